package eval

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTPBackendOptions configure an HTTPBackend.
type HTTPBackendOptions struct {
	// Target is the base URL of semcache's OpenAI API
	// (http://127.0.0.1:8080/v1). Its upstream must be the oracle
	// (semcache-bench upstream --answers FILE, over the same pair files).
	Target string
	// Admin is the base URL of semcache's admin listener
	// (http://127.0.0.1:8081); its /metrics tell when a write-back has
	// landed. AdminToken is sent when set.
	Admin, AdminToken string
	// Model named in the requests (default DefaultModel).
	Model string
	// RunID joins every batch's API key, so each batch is a fresh
	// namespace and two runs against one server never share entries
	// ("": random).
	RunID string
	// Settle bounds the wait for a write-back (default 30 s).
	Settle time.Duration
	// Client sends the requests (nil: a client with a 60 s timeout).
	Client *http.Client
}

// HTTPBackend replays over HTTP against a running semcache. Each batch
// uses its own API key, hence its own namespace: an empty cache as far as
// lookups can tell (the server must not run with --shared-namespace).
// Entries are stored by sending them with X-Semcache-Cache-Control:
// no-cache (a miss whose answer is written back, without a lookup);
// counterparts are sent plainly, and the served content (the oracle's
// "class:<id>" answer of whatever request produced the entry) tells the
// class of the answer. After a miss it waits, through the admin /metrics,
// until the write-back has landed in the disk tier and the vector store.
type HTTPBackend struct {
	opts HTTPBackendOptions
	chat string
}

var _ Backend = (*HTTPBackend)(nil)

// NewHTTPBackend validates opts.
func NewHTTPBackend(opts HTTPBackendOptions) (*HTTPBackend, error) {
	var errs []error
	for _, u := range []struct{ name, v string }{{"target", opts.Target}, {"admin", opts.Admin}} {
		p, err := url.Parse(u.v)
		if u.v == "" || err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("eval: %s URL %q: want http(s)://host[:port]/...", u.name, u.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.Model == "" {
		opts.Model = DefaultModel
	}
	if opts.RunID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		opts.RunID = hex.EncodeToString(b[:])
	}
	if opts.Settle <= 0 {
		opts.Settle = 30 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 60 * time.Second}
	}
	return &HTTPBackend{opts: opts, chat: strings.TrimRight(opts.Target, "/") + "/chat/completions"}, nil
}

// NewBatch returns a batch in a namespace of its own.
func (h *HTTPBackend) NewBatch(ctx context.Context, name string) (Batch, error) {
	return &httpBatch{h: h, key: "semcache-eval-" + h.opts.RunID + "-" + name, entries: map[string]StoreEntry{}}, nil
}

type httpBatch struct {
	h       *HTTPBackend
	key     string
	entries map[string]StoreEntry
}

// chatResponse is the part of a chat completion the replay reads.
type chatResponse struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
}

// send posts s and returns the served content and semcache's headers.
func (b *httpBatch) send(ctx context.Context, s Side, noCache bool) (string, http.Header, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.h.chat, bytes.NewReader(RequestBody(b.h.opts.Model, s)))
	if err != nil {
		return "", nil, 0, fmt.Errorf("eval: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.key)
	if noCache {
		req.Header.Set("X-Semcache-Cache-Control", "no-cache")
	}
	start := time.Now()
	resp, err := b.h.opts.Client.Do(req)
	if err != nil {
		return "", nil, 0, fmt.Errorf("eval: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	elapsed := time.Since(start)
	if err != nil {
		return "", nil, 0, fmt.Errorf("eval: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, 0, fmt.Errorf("eval: %s: status %d: %s", b.h.chat, resp.StatusCode, bytes.TrimSpace(body))
	}
	var cr chatResponse
	if err := json.Unmarshal(body, &cr); err != nil || len(cr.Choices) != 1 {
		return "", nil, 0, fmt.Errorf("eval: %s: not a chat completion with one choice: %.200s", b.h.chat, body)
	}
	return cr.Choices[0].Message.Content, resp.Header, elapsed, nil
}

// Store sends every entry as a no-cache request (stored without a lookup),
// then waits for the write-backs to land.
func (b *httpBatch) Store(ctx context.Context, entries []StoreEntry) error {
	for _, e := range entries {
		content, hdr, _, err := b.send(ctx, e.Side, true)
		if err != nil {
			return err
		}
		if content != e.Answer {
			return fmt.Errorf("eval: the upstream answered %q where the oracle says %q: is it semcache-bench upstream --answers over the same pair files?", content, e.Answer)
		}
		if id := hdr.Get("X-Semcache-Entry"); id != "" {
			b.entries[id] = e
		}
	}
	return b.h.settle(ctx)
}

// Ask sends s as a client would and reads what was served.
func (b *httpBatch) Ask(ctx context.Context, s Side, answer string) (Outcome, error) {
	content, hdr, elapsed, err := b.send(ctx, s, false)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Latency: elapsed, EntryID: hdr.Get("X-Semcache-Entry")}
	switch hdr.Get("X-Semcache") {
	case "hit-exact":
		out.Tier = TierExact
	case "hit-semantic":
		out.Tier = TierSemantic
		if f, err := strconv.ParseFloat(hdr.Get("X-Semcache-Similarity"), 32); err == nil {
			out.Similarity = float32(f)
		}
	case "miss":
		if content != answer {
			return Outcome{}, fmt.Errorf("eval: the upstream answered %q where the oracle says %q: is it semcache-bench upstream --answers over the same pair files?", content, answer)
		}
		b.entries[out.EntryID] = StoreEntry{Side: s, Answer: content}
		out.EntryID = ""
		return out, b.h.settle(ctx)
	default:
		return Outcome{}, fmt.Errorf("eval: X-Semcache %q: is %s a semcache?", hdr.Get("X-Semcache"), b.h.opts.Target)
	}
	out.Answer = content
	if e, ok := b.entries[out.EntryID]; ok {
		out.EntryPrompt = e.Side.Text
	}
	return out, nil
}

// Close forgets the batch (its entries stay on the server, unreachable to
// later batches).
func (b *httpBatch) Close() error { return nil }

// writeBackCounters are the admin metrics that tell whether every stored
// answer has been written.
type writeBackCounters struct{ stored, written, dropped, queue float64 }

// settle waits until every answer semcache decided to store has been
// written (or dropped by a full queue).
func (h *HTTPBackend) settle(ctx context.Context) error {
	deadline := time.Now().Add(h.opts.Settle)
	wait := time.Millisecond
	for {
		c, err := h.counters(ctx)
		if err != nil {
			return err
		}
		// An entry parked for the vector store counts as written, and
		// may be dropped from the backlog later: written alone settles.
		if c.written >= c.stored && c.queue == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("eval: write-back did not settle within %v (%v stored, %v written, %v dropped)", h.opts.Settle, c.stored, c.written, c.dropped)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("eval: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// counters reads the write-back counters from the admin /metrics.
func (h *HTTPBackend) counters(ctx context.Context) (writeBackCounters, error) {
	u := strings.TrimRight(h.opts.Admin, "/") + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return writeBackCounters{}, fmt.Errorf("eval: %w", err)
	}
	if h.opts.AdminToken != "" {
		req.Header.Set("Authorization", "Bearer "+h.opts.AdminToken)
	}
	resp, err := h.opts.Client.Do(req)
	if err != nil {
		return writeBackCounters{}, fmt.Errorf("eval: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return writeBackCounters{}, fmt.Errorf("eval: %s: status %d", u, resp.StatusCode)
	}
	return parseWriteBack(resp.Body)
}

// parseWriteBack reads semcache_writeback_queued_total (stored),
// semcache_writeback_written_total, semcache_writeback_dropped_total
// {stage="index"} (queued entries given up on: the queue's drops were never
// queued) and semcache_writeback_backlog{stage="queue"} from a Prometheus
// text exposition.
func parseWriteBack(r io.Reader) (writeBackCounters, error) {
	var c writeBackCounters
	found := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		var dst *float64
		switch name {
		case "semcache_writeback_queued_total":
			dst = &c.stored
		case "semcache_writeback_written_total":
			dst = &c.written
		case `semcache_writeback_dropped_total{stage="index"}`:
			dst = &c.dropped
		case `semcache_writeback_backlog{stage="queue"}`:
			dst = &c.queue
		default:
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return c, fmt.Errorf("eval: metrics: %s: %w", name, err)
		}
		*dst = v
		found++
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("eval: reading metrics: %w", err)
	}
	if found == 0 {
		return c, errors.New("eval: the admin /metrics have no semcache_writeback_* counters: is the admin URL a semcache's?")
	}
	return c, nil
}
