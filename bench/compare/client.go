package compare

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// client sends the chat completions: every one distinct, read to the end.
// It is lean on purpose (bodies built by appending, bodies read into
// reused buffers) so the load generator costs little next to what it
// measures, and the same for direct and through-semcache calls.
type client struct {
	hc     *http.Client
	tr     *http.Transport
	stream bool
}

func newClient(concurrency int, stream bool) *client {
	tr := &http.Transport{
		MaxIdleConns:        4 * concurrency,
		MaxIdleConnsPerHost: 4 * concurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &client{hc: &http.Client{Transport: tr}, tr: tr, stream: stream}
}

func (c *client) close() { c.tr.CloseIdleConnections() }

// result is the outcome of one request.
type result struct {
	latency time.Duration
	verdict string // X-Semcache, "none" without it
	err     error
}

var (
	subjects = []string{"python", "postgres", "kubernetes", "react", "rust", "terraform", "docker", "nginx", "kafka", "redis",
		"golang", "java", "typescript", "linux", "git", "aws", "azure", "graphql", "django", "spark", "pandas", "numpy", "bash", "vim"}
	tasks = []string{"reverse a list", "parse a date", "read a file line by line", "connect to a database", "handle errors",
		"write a unit test", "sort a map by value", "merge two dictionaries", "deploy a container", "configure logging",
		"measure latency", "retry a request", "stream a response", "limit concurrency", "cache query results",
		"validate user input", "rotate secrets", "profile memory usage", "paginate results", "schedule a job"}
	styles = []string{"How do I %s in %s?", "What is the best way to %s with %s?", "Show me how to %s using %s.",
		"Can you explain how to %s in %s?", "What's the idiomatic way to %s in %s?"}
)

// prompt is the i-th question: realistic shapes (so a similarity tier
// finds candidates and verifies them, as it would in production) made
// distinct by a ticket number the verifier tells apart.
func prompt(i int) string {
	q := fmt.Sprintf(styles[i%len(styles)], tasks[(i/len(styles))%len(tasks)],
		subjects[(i/(len(styles)*len(tasks)))%len(subjects)])
	return q + " (ticket " + strconv.Itoa(i) + ")"
}

// body is the request body of the i-th request.
func (c *client) body(i int) []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"model":"sim-gpt","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":`...)
	b = strconv.AppendQuote(b, prompt(i))
	b = append(b, `}]`...)
	if c.stream {
		b = append(b, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	return append(b, '}')
}

var bufs = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 8<<10)) }}

// do sends the i-th request to url and reads its answer.
func (c *client) do(ctx context.Context, url string, i int) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(c.body(i)))
	if err != nil {
		return result{verdict: "none", err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-compare")
	if c.stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return result{latency: time.Since(start), verdict: "none", err: err}
	}
	defer resp.Body.Close()
	r := result{verdict: resp.Header.Get("X-Semcache")}
	if r.verdict == "" {
		r.verdict = "none"
	}
	buf := bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	r.latency = time.Since(start)
	switch {
	case err != nil:
		r.err = fmt.Errorf("compare: read body: %w", err)
	case resp.StatusCode != http.StatusOK:
		r.err = fmt.Errorf("compare: status %d: %.200s", resp.StatusCode, buf.Bytes())
	case c.stream && !complete(buf.Bytes()):
		r.err = errors.New("compare: stream without [DONE]")
	case !c.stream && !bytes.Contains(buf.Bytes(), []byte(`"finish_reason"`)):
		r.err = fmt.Errorf("compare: answer without finish_reason: %.200s", buf.Bytes())
	}
	bufs.Put(buf)
	return r
}

// complete reports whether an SSE body ends with the [DONE] event.
func complete(b []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(b))
	last := ""
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			last = l
		}
	}
	return last == "data: [DONE]"
}

// flood sends requests from n workers until d has passed; it returns how
// many completed and the time they took. note sees every result (under
// a lock).
func (c *client) flood(ctx context.Context, url string, n int, d time.Duration, seq *int, note func(result)) (int, time.Duration) {
	base := *seq
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var done int
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				r := c.do(context.WithoutCancel(ctx), url, base+int(next.Add(1)))
				mu.Lock()
				note(r)
				done++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	*seq = base + int(next.Load())
	return done, took
}
