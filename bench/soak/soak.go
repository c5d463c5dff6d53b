// Package soak drives a running semcache at a steady mixed rate for a
// long time and samples its memory and write-back counters from the admin
// /metrics endpoint: the figures that show whether the process stays flat
// under per-namespace quotas (semcache-bench soak).
package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Options configure a soak run.
type Options struct {
	// Target is the API base URL including /v1; Admin the admin base URL
	// (its /metrics is sampled).
	Target, Admin string
	Duration      time.Duration
	// Rate is the requests started per second; Concurrency bounds those in
	// flight (a request that finds no slot is counted as shed, not sent).
	Rate        float64
	Concurrency int
	// Keys is the number of API keys, each its own namespace.
	Keys int
	// RepeatRatio is the share of requests repeating one of the last
	// 1,000 prompts of their key (hits); the rest are new (misses).
	RepeatRatio float64
	// StreamRatio is the share of streamed requests.
	StreamRatio float64
	// Sample is the interval between metric samples.
	Sample time.Duration
	Model  string
	Seed   uint64
	Client *http.Client
}

// Validate reports every problem of o at once.
func (o Options) Validate() error {
	var errs []error
	if !strings.HasPrefix(o.Target, "http") || !strings.HasPrefix(o.Admin, "http") {
		errs = append(errs, errors.New("soak: target and admin must be http(s) URLs"))
	}
	if o.Duration <= 0 || o.Sample <= 0 || o.Rate <= 0 || o.Concurrency < 1 || o.Keys < 1 {
		errs = append(errs, errors.New("soak: duration, sample, rate, concurrency and keys must be positive"))
	}
	if o.RepeatRatio < 0 || o.RepeatRatio > 1 || o.StreamRatio < 0 || o.StreamRatio > 1 {
		errs = append(errs, errors.New("soak: ratios must be in [0, 1]"))
	}
	return errors.Join(errs...)
}

// Sample is one reading of the server's metrics during the run.
type Sample struct {
	At time.Duration `json:"at"`
	// RSS is process_resident_memory_bytes.
	RSS int64 `json:"rss"`
	// Sent, Errors are the client's counts so far.
	Sent   uint64 `json:"sent"`
	Errors uint64 `json:"errors"`
	// The server's counters (see semcache's /metrics).
	DiskEntries  float64 `json:"disk_entries"`
	Dropped      float64 `json:"writeback_dropped"`
	Waited       float64 `json:"writeback_waited"`
	QuotaEvicted float64 `json:"quota_evicted"`
	QueueLen     float64 `json:"writeback_queue_length"`
}

// Report is the outcome of a run.
type Report struct {
	Options  Options       `json:"-"`
	Elapsed  time.Duration `json:"elapsed"`
	Sent     uint64        `json:"sent"`
	Errors   uint64        `json:"errors"`
	Shed     uint64        `json:"shed"`
	Hits     uint64        `json:"hits"`
	Misses   uint64        `json:"misses"`
	Samples  []Sample      `json:"samples"`
	LastErrs []string      `json:"last_errors,omitempty"`
}

type runner struct {
	o      Options
	sent   atomic.Uint64
	errs   atomic.Uint64
	shed   atomic.Uint64
	hits   atomic.Uint64
	misses atomic.Uint64

	mu      sync.Mutex
	recent  [][]string // per key, the last prompts
	lastErr []string
}

// Run drives the target for o.Duration (or until ctx is done) and returns
// the report of what happened, sampled every o.Sample.
func Run(ctx context.Context, o Options) (Report, error) {
	if err := o.Validate(); err != nil {
		return Report{}, err
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}
	}
	if o.Model == "" {
		o.Model = "sim-gpt"
	}
	r := &runner{o: o, recent: make([][]string, o.Keys)}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	start := time.Now()
	rep := Report{Options: o}
	sample := func() {
		s, err := r.sample(start)
		if err != nil {
			r.note(fmt.Sprintf("sample: %v", err))
			return
		}
		rep.Samples = append(rep.Samples, s)
	}
	sample()
	slots := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(o.Seed, 0x736f616b))
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
	defer tick.Stop()
	samples := time.NewTicker(o.Sample)
	defer samples.Stop()
	n := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-samples.C:
			sample()
		case <-tick.C:
			n++
			key := rng.IntN(o.Keys)
			prompt := r.pick(rng, key, n)
			stream := rng.Float64() < o.StreamRatio
			select {
			case slots <- struct{}{}:
			default:
				r.shed.Add(1)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				r.do(context.WithoutCancel(ctx), key, prompt, stream)
			}()
		}
	}
	wg.Wait()
	sample()
	rep.Elapsed = time.Since(start)
	rep.Sent, rep.Errors, rep.Shed = r.sent.Load(), r.errs.Load(), r.shed.Load()
	rep.Hits, rep.Misses = r.hits.Load(), r.misses.Load()
	rep.LastErrs = r.lastErr
	return rep, nil
}

// pick returns a repeat of a recent prompt of key, or a new one.
func (r *runner) pick(rng *rand.Rand, key, n int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.recent[key]
	if len(rec) > 0 && rng.Float64() < r.o.RepeatRatio {
		return rec[rng.IntN(len(rec))]
	}
	p := fmt.Sprintf("Soak question %d of key %d: what should I know about topic %x?", n, key, rng.Uint64())
	if len(rec) >= 1000 {
		rec = rec[1:]
	}
	r.recent[key] = append(rec, p)
	return p
}

func (r *runner) note(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lastErr) >= 10 {
		r.lastErr = r.lastErr[1:]
	}
	r.lastErr = append(r.lastErr, msg)
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
	Stream   bool          `json:"stream,omitempty"`
}

func (r *runner) do(ctx context.Context, key int, prompt string, stream bool) {
	r.sent.Add(1)
	body, _ := json.Marshal(chatRequest{Model: r.o.Model, Messages: []chatMessage{{Role: "user", Content: prompt}}, Stream: stream})
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(r.o.Target, "/")+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		r.fail(err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", fmt.Sprintf("Bearer soak-key-%d", key))
	resp, err := r.o.Client.Do(req)
	if err != nil {
		r.fail(err.Error())
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		r.fail(err.Error())
		return
	case resp.StatusCode != http.StatusOK:
		r.fail(fmt.Sprintf("status %d: %.200s", resp.StatusCode, b))
		return
	case stream && !bytes.Contains(b, []byte("data: [DONE]")):
		r.fail("stream without [DONE]")
		return
	}
	if strings.HasPrefix(resp.Header.Get("X-Semcache"), "hit") {
		r.hits.Add(1)
	} else {
		r.misses.Add(1)
	}
}

func (r *runner) fail(msg string) {
	r.errs.Add(1)
	r.note(msg)
}

// sample reads the server's metrics.
func (r *runner) sample(start time.Time) (Sample, error) {
	resp, err := r.o.Client.Get(strings.TrimSuffix(r.o.Admin, "/") + "/metrics")
	if err != nil {
		return Sample{}, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return Sample{}, err
	}
	s := Sample{At: time.Since(start).Round(time.Second), Sent: r.sent.Load(), Errors: r.errs.Load()}
	s.RSS = int64(value(mfs, "process_resident_memory_bytes", "", ""))
	s.DiskEntries = value(mfs, "semcache_cache_entries", "tier", "disk")
	s.Dropped = value(mfs, "semcache_writeback_dropped_total", "", "")
	s.Waited = value(mfs, "semcache_writeback_waited_total", "", "")
	s.QuotaEvicted = value(mfs, "semcache_cache_evictions_total", "cause", "quota")
	s.QueueLen = value(mfs, "semcache_writeback_backlog", "stage", "queue")
	return s, nil
}

// value sums the gauges or counters of a family; label, when set, picks
// the series whose label has value want.
func value(mfs map[string]*dto.MetricFamily, name, label, want string) float64 {
	var sum float64
	for _, m := range mfs[name].GetMetric() {
		if label != "" {
			match := false
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == want {
					match = true
				}
			}
			if !match {
				continue
			}
		}
		sum += m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
	}
	return sum
}

// Print writes the samples as a table and the summary: the RSS curve's
// first, peak and last values, and the change over the second half of
// the run (flat under a quota), with the errors and write-back drops.
func (rep Report) Print(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "soak: %v at %.0f req/s (%d keys, %.0f%% repeats, %.0f%% streams, concurrency %d)\n",
		rep.Elapsed.Round(time.Second), rep.Options.Rate, rep.Options.Keys, 100*rep.Options.RepeatRatio, 100*rep.Options.StreamRatio, rep.Options.Concurrency)
	fmt.Fprintf(&b, "%8s %10s %9s %7s %12s %10s %9s %9s %6s\n", "at", "rss_mib", "sent", "errors", "disk_entries", "evicted", "dropped", "waited", "queue")
	for _, s := range rep.Samples {
		fmt.Fprintf(&b, "%8v %10.1f %9d %7d %12.0f %10.0f %9.0f %9.0f %6.0f\n", s.At, float64(s.RSS)/(1<<20), s.Sent, s.Errors,
			s.DiskEntries, s.QuotaEvicted, s.Dropped, s.Waited, s.QueueLen)
	}
	sum := rep.Summary()
	fmt.Fprintf(&b, "requests %d (hits %d, misses %d), errors %d, shed %d, write-back dropped %.0f\n",
		rep.Sent, rep.Hits, rep.Misses, rep.Errors, rep.Shed, sum.Dropped)
	fmt.Fprintf(&b, "rss MiB: first %.1f, peak %.1f, last %.1f; second half %.1f → %.1f (%+.1f%%)\n",
		sum.First, sum.Peak, sum.Last, sum.HalfStart, sum.Last, sum.HalfChangePct)
	for _, e := range rep.LastErrs {
		fmt.Fprintf(&b, "last error: %s\n", e)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary is the RSS curve in MiB and the write-back drops.
type Summary struct {
	First, Peak, Last, HalfStart, HalfChangePct float64
	Dropped                                     float64
}

// Summary summarises the samples.
func (rep Report) Summary() Summary {
	var s Summary
	if len(rep.Samples) == 0 {
		return s
	}
	mib := func(x int64) float64 { return float64(x) / (1 << 20) }
	s.First = mib(rep.Samples[0].RSS)
	last := rep.Samples[len(rep.Samples)-1]
	s.Last, s.Dropped = mib(last.RSS), last.Dropped
	for _, x := range rep.Samples {
		s.Peak = max(s.Peak, mib(x.RSS))
	}
	s.HalfStart = mib(rep.Samples[len(rep.Samples)/2].RSS)
	if s.HalfStart > 0 {
		s.HalfChangePct = 100 * (s.Last - s.HalfStart) / s.HalfStart
	}
	return s
}
