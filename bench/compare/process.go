package compare

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// process is a running semcache serve.
type process struct {
	cmd      *exec.Cmd
	dataDir  string
	apiURL   string // base URL including /v1
	adminURL string
	exited   chan struct{}
	stderr   *tailBuffer
}

var listening = regexp.MustCompile(`semcache listening on (http://\S+) \(admin (http://\S+)\)`)

// startSemcache starts the binary against upURL with the similarity tier
// set by mode, in a fresh data directory (mode bare: the bare proxy), and
// waits until /readyz says so.
func startSemcache(ctx context.Context, o Options, upURL, mode string) (*process, error) {
	dir, err := os.MkdirTemp("", "semcache-compare-")
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--upstream", upURL,
		"--data-dir", filepath.Join(dir, "data"), "--log-level", "warn", "--config-watch", "0"}
	switch mode {
	case "off":
		args = append(args, "--semantic", "off")
	default:
		args = append(args, "--semantic", "on", "--embedder", mode)
		if mode == "use" && o.ModelDir != "" {
			args = append(args, "--model-dir", o.ModelDir)
		}
		if o.WordvecDir != "" {
			args = append(args, "--wordvec-dir", o.WordvecDir)
		}
		if o.WordnetDir != "" {
			args = append(args, "--wordnet-dir", o.WordnetDir)
		}
	}
	args = append(args, o.ExtraArgs...)
	cmd := exec.Command(o.Semcache, args...)
	if isBare(mode) {
		args = slices.Concat(o.BareCommand[1:], []string{"--stack", bareStacks[mode], "--upstream", upURL})
		cmd = exec.Command(o.BareCommand[0], args...)
	}
	cmd.Env = os.Environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	p := &process{cmd: cmd, dataDir: dir, exited: make(chan struct{}), stderr: &tailBuffer{max: 8 << 10}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("compare: start %s: %w", o.Semcache, err)
	}
	addrs := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- m[1:]
			}
		}
		_ = cmd.Wait()
		close(p.exited)
	}()
	select {
	case a := <-addrs:
		p.apiURL, p.adminURL = a[0]+"/v1", a[1]
	case <-p.exited:
		os.RemoveAll(dir)
		return nil, fmt.Errorf("compare: semcache exited at start: %s", p.stderr)
	case <-time.After(2 * time.Minute):
		p.stop()
		return nil, fmt.Errorf("compare: semcache did not start within 2 minutes: %s", p.stderr)
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		resp, err := http.Get(p.adminURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, fmt.Errorf("compare: semcache not ready: %s", p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process (SIGTERM, then SIGKILL after 30 s) and removes
// its data directory.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	os.RemoveAll(p.dataDir)
}

// cpu is the process's user + system CPU time so far (0 for a nil
// process or where /proc is missing).
func (p *process) cpu() time.Duration {
	if p == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in ")".
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// rss is the process's resident set and its peak, from /proc.
func (p *process) rss() (rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak
}

// metrics scrapes the admin /metrics.
func (p *process) metrics(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.adminURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("compare: metrics: %w", err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("compare: metrics: %w", err)
	}
	return mfs, nil
}

// sum adds the values of every series of a metric whose labels include
// the given pairs.
func sum(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
	total := 0.0
outer:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue outer
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Untyped != nil:
			total += m.Untyped.GetValue()
		}
	}
	return total
}

// flush waits (up to 30 s) until the write-back queue is empty.
func (p *process) flush(ctx context.Context) error {
	for deadline := time.Now().Add(30 * time.Second); ; {
		mfs, err := p.metrics(ctx)
		if err != nil {
			return err
		}
		if mfs["semcache_writeback_backlog"] == nil {
			return errors.New("compare: semcache exports no semcache_writeback_backlog")
		}
		if sum(mfs, "semcache_writeback_backlog", "stage", "queue") == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("compare: write-back queue not empty after 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeBack reads the write-back counters.
func (p *process) writeBack(ctx context.Context) (WriteBack, error) {
	mfs, err := p.metrics(ctx)
	if err != nil {
		return WriteBack{}, err
	}
	return WriteBack{
		Stored:       sum(mfs, "semcache_writeback_queued_total"),
		Written:      sum(mfs, "semcache_writeback_written_total"),
		Waited:       sum(mfs, "semcache_writeback_waited_total"),
		Dropped:      sum(mfs, "semcache_writeback_dropped_total", "stage", "queue"),
		IndexDropped: sum(mfs, "semcache_writeback_dropped_total", "stage", "index"),
		Batches:      sum(mfs, "semcache_embed_batches_total"),
		BatchedTexts: sum(mfs, "semcache_embed_batched_texts_total"),
	}, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
	mu  sync.Mutex
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

var _ io.Writer = (*tailBuffer)(nil)
