package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// buildSemcache builds this command into a temporary directory: the
// tests below signal and kill a real process.
func buildSemcache(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		needOrSkip(t, "the go tool is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "semcache")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running semcache process.
type proc struct {
	cmd        *exec.Cmd
	api, admin string
	stderr     *syncBuffer
	exited     chan struct{}
	exitErr    error
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	all := append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--embedder", "lexical"}, args...)
	cmd := exec.Command(bin, all...)
	p := &proc{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				<-p.exited
				t.Fatalf("semcache exited before listening: %v\n%s", p.exitErr, p.stderr.String())
			}
			if m := listening.FindStringSubmatch(l); m != nil {
				p.api, p.admin = "http://"+m[1], "http://"+m[2]
				go func() {
					for range lines {
					}
				}()
				return p
			}
		case <-timeout:
			t.Fatalf("semcache did not start\n%s", p.stderr.String())
		}
	}
}

func (p *proc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.exitErr
	case <-time.After(2 * time.Minute):
		t.Fatal("semcache did not exit")
		return nil
	}
}

// completed is an answer the client received whole, and when.
type completed struct {
	prompt string
	stream bool
	at     time.Time
}

// chatOnce sends one chat completion and reports its X-Semcache value and
// whether the answer arrived whole (a stream: up to data: [DONE]).
func chatOnce(client *http.Client, api, prompt string, stream bool) (cache string, whole bool) {
	body, _ := json.Marshal(map[string]any{"model": "sim-gpt", "stream": stream,
		"messages": []map[string]string{{"role": "user", "content": prompt}}})
	req, _ := http.NewRequest(http.MethodPost, api+"/v1/chat/completions", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer durable")
	resp, err := client.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", false
	}
	if stream && !strings.Contains(string(b), "data: [DONE]") {
		return "", false
	}
	return resp.Header.Get("X-Semcache"), true
}

// TestKill9KeepsCompletedAnswers: 32 clients send new prompts (misses,
// half streamed) to a real semcache as fast as it answers; after a few
// seconds it is killed with SIGKILL. After a restart on the same data
// directory, every answer a client had received whole at least 1 s
// before the kill is a hit.
func TestKill9KeepsCompletedAnswers(t *testing.T) {
	bin := buildSemcache(t)
	_, upURL := simUpstream(t)
	data := t.TempDir()
	p := startProc(t, bin, "--upstream", upURL, "--data-dir", data)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	var (
		mu   sync.Mutex
		done []completed
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				prompt := fmt.Sprintf("durable question %d of worker %d: what is %d times %d?", i, w, i, w)
				stream := i%2 == 1
				if c, whole := chatOnce(client, p.api, prompt, stream); whole && c == "miss" {
					at := time.Now()
					mu.Lock()
					done = append(done, completed{prompt, stream, at})
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(4 * time.Second)
	killAt := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	_ = p.wait(t)
	wg.Wait()
	client.CloseIdleConnections()

	mu.Lock()
	answers := done
	mu.Unlock()
	var old, recent []completed
	for _, c := range answers {
		if c.at.Before(killAt.Add(-time.Second)) {
			old = append(old, c)
		} else {
			recent = append(recent, c)
		}
	}
	if len(old) < 100 {
		t.Fatalf("only %d answers completed more than 1 s before the kill: the load did not run", len(old))
	}

	p2 := startProc(t, bin, "--upstream", upURL, "--data-dir", data)
	check := func(list []completed) (hits int, missing []string) {
		var hmu sync.Mutex
		var cwg sync.WaitGroup
		jobs := make(chan completed)
		for range 16 {
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				for c := range jobs {
					got, whole := chatOnce(client, p2.api, c.prompt, c.stream)
					hmu.Lock()
					if whole && strings.HasPrefix(got, "hit") {
						hits++
					} else if len(missing) < 5 {
						missing = append(missing, fmt.Sprintf("%q (stream %v, done %v before the kill): %q", c.prompt, c.stream, killAt.Sub(c.at), got))
					}
					hmu.Unlock()
				}
			}()
		}
		for _, c := range list {
			jobs <- c
		}
		close(jobs)
		cwg.Wait()
		return hits, missing
	}
	hits, missing := check(old)
	recentHits, _ := check(recent)
	t.Logf("answers completed: %d in %v (%.0f/s); ≥1 s before the kill: %d, hits after restart %d; in the last second: %d, hits %d",
		len(answers), 4*time.Second, float64(len(answers))/4, len(old), hits, len(recent), recentHits)
	if hits != len(old) {
		t.Fatalf("%d of %d answers completed ≥1 s before kill -9 were lost, e.g.\n%s", len(old)-hits, len(old), strings.Join(missing, "\n"))
	}
}

// TestProcessReloadAndTerm: the real process reloads on SIGHUP with 50
// streams open (none is cut; new requests go to the new upstream), and on
// SIGTERM answers 503 on /readyz while 30 open streams finish, then exits
// 0.
func TestProcessReloadAndTerm(t *testing.T) {
	bin := buildSemcache(t)
	_, urlA := slowUpstream(t, 2*time.Second)
	urlB := fixedUpstream(t, "answer from B")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "upstream: "+urlA+"\n")
	p := startProc(t, bin, "--config", cfg, "--data-dir", filepath.Join(dir, "data"), "--config-watch", "0")

	streams := openStreams(t, p.api, "k", "hup", 50)
	writeConfig(t, dir, "upstream: "+urlB+"\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, p.admin, `semcache_config_reloads_total{result="ok"}`, 1)
	if a := ask(t, p.api, "k", userMsg("Which answer is this?")); a.content != "answer from B" {
		t.Fatalf("after SIGHUP: %+v", a)
	}
	if whole, firstErr := waitStreams(t, streams); whole != len(streams) {
		t.Fatalf("%d of %d streams survived SIGHUP; %s", whole, len(streams), firstErr)
	}

	writeConfig(t, dir, "upstream: "+urlA+"\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, p.admin, `semcache_config_reloads_total{result="ok"}`, 2)
	streams = openStreams(t, p.api, "k", "term", 30)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	saw503 := false
	for range 200 {
		if readyz(t, p.admin) == http.StatusServiceUnavailable {
			saw503 = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !saw503 {
		t.Error("/readyz never answered 503 after SIGTERM")
	}
	if whole, firstErr := waitStreams(t, streams); whole != len(streams) {
		t.Fatalf("%d of %d streams finished after SIGTERM; %s", whole, len(streams), firstErr)
	}
	if err := p.wait(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "entries.db")); err != nil {
		t.Fatal(err)
	}
}
