// Package compare measures what semcache adds to an upstream call on its
// miss path, side by side with the same upstream called directly, in one
// run (semcache-bench compare): it starts the simulated upstream (instant
// answers) in process, starts the real semcache binary against it once
// per similarity-tier setting, and sends chat completions that are all
// distinct (every one a miss). Per setting and round it measures the c=1
// latency (p50, p99) and the c=32 throughput of direct and through-semcache
// calls, semcache's resident memory and its CPU time per request, and
// reads its write-back counters; the report gives the medians over the
// rounds (the table of issue 14). The reference modes measure, in place of
// semcache, a bare Go proxy on one HTTP stack each (ServeBare): the floor
// semcache's own work adds to.
package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/semcache/semcache/bench/upstream"
)

// Defaults of Options.
const (
	DefaultRounds             = 3
	DefaultLatencyRequests    = 2000
	DefaultWarmup             = 300
	DefaultConcurrency        = 32
	DefaultThroughputDuration = 5 * time.Second
)

// Modes are the similarity-tier settings compare measures by default:
// the semantic tier off, on with the lexical embedder, on with USE-lite.
var Modes = []string{"off", "lexical", "use"}

// The reference modes: a bare Go proxy (ServeBare) instead of semcache,
// run by Options.BareCommand, on each of its stacks.
const (
	ModeBare             = "bare"
	ModeBareReverseProxy = "bare-reverseproxy"
	ModeBareFastClient   = "bare-fastclient"
	ModeBareFastHTTP     = "bare-fasthttp"
)

// bareStacks are the reference modes' HTTP stacks.
var bareStacks = map[string]string{ModeBare: StackNetHTTP, ModeBareReverseProxy: StackReverseProxy,
	ModeBareFastClient: StackFastClient, ModeBareFastHTTP: StackFastHTTP}

func isBare(mode string) bool { _, ok := bareStacks[mode]; return ok }

// Options configure Run.
type Options struct {
	// Semcache is the path of the semcache binary (required).
	Semcache string
	// Modes are the similarity-tier settings to measure (Modes by default).
	Modes []string
	// ModelDir, WordvecDir and WordnetDir are passed to semcache serve
	// when set (USE-lite, the verifier's word knowledge).
	ModelDir, WordvecDir, WordnetDir string
	// ExtraArgs are added to every semcache serve command line.
	ExtraArgs []string
	// BareCommand runs ServeBare in its own process for the reference
	// modes (semcache-bench: itself with "bare-proxy");
	// "--stack STACK --upstream URL" is appended.
	BareCommand []string
	// Rounds is the number of rounds; the report gives medians.
	Rounds int
	// LatencyRequests are the sequential (c=1) requests measured per
	// target and round, after Warmup unmeasured ones.
	LatencyRequests, Warmup int
	// Concurrency and ThroughputDuration shape the throughput phase.
	Concurrency        int
	ThroughputDuration time.Duration
	// Stream asks for SSE answers.
	Stream bool
	// UpstreamTTFT delays the simulated upstream's answers (its first
	// token; the whole answer without Stream) by this much: 0, the
	// default, is an instant upstream that shows semcache's own cost; a
	// delay like a real model's shows what a miss costs behind one (and
	// what --speculative-upstream hides).
	UpstreamTTFT time.Duration
	// Progress receives a line per phase (nil: none).
	Progress io.Writer `json:"-"`
}

func (o Options) withDefaults() Options {
	if len(o.Modes) == 0 {
		o.Modes = Modes
	}
	if o.Rounds == 0 {
		o.Rounds = DefaultRounds
	}
	if o.LatencyRequests == 0 {
		o.LatencyRequests = DefaultLatencyRequests
	}
	if o.Warmup == 0 {
		o.Warmup = DefaultWarmup
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.ThroughputDuration == 0 {
		o.ThroughputDuration = DefaultThroughputDuration
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// Validate reports every problem of o.
func (o Options) Validate() error {
	var errs []error
	if o.Semcache == "" {
		errs = append(errs, errors.New("compare: the semcache binary is required"))
	}
	for _, m := range o.Modes {
		if !slices.Contains(Modes, m) && !isBare(m) {
			errs = append(errs, fmt.Errorf("compare: mode %q: want one of %v, %s, %s, %s or %s", m, Modes,
				ModeBare, ModeBareReverseProxy, ModeBareFastClient, ModeBareFastHTTP))
		}
	}
	if slices.ContainsFunc(o.Modes, isBare) && len(o.BareCommand) == 0 {
		errs = append(errs, errors.New("compare: mode bare needs the command that runs the bare proxy"))
	}
	if slices.Contains(o.Modes, "use") && o.ModelDir == "" {
		errs = append(errs, errors.New("compare: mode use needs the USE-lite model directory (--model-dir or $SEMCACHE_MODEL_DIR; bash .ci/use-model.sh prints it)"))
	}
	if o.Rounds < 0 || o.LatencyRequests < 0 || o.Warmup < 0 || o.Concurrency < 0 || o.ThroughputDuration < 0 || o.UpstreamTTFT < 0 {
		errs = append(errs, errors.New("compare: rounds, requests, warm-up, concurrency, duration and upstream delay must not be negative"))
	}
	return errors.Join(errs...)
}

// Phase is one target's figures in one round.
type Phase struct {
	// P50 and P99 are the c=1 latencies.
	P50, P99 time.Duration
	// Throughput is completed requests per second at Options.Concurrency.
	Throughput float64
	// Errors are failed requests (non-200, broken bodies) in both phases.
	Errors int
	// Verdicts counts the X-Semcache header values.
	Verdicts map[string]int
	// CPULatency and CPUThroughput are semcache's CPU time (user +
	// system, all threads) per request in each phase; 0 for direct.
	CPULatency, CPUThroughput time.Duration
	// RSS and PeakRSS are semcache's resident memory after the run and
	// its high-water mark (bytes; 0 when unknown).
	RSS, PeakRSS int64
	// WriteBack are semcache's write-back counters after the run.
	WriteBack WriteBack
}

// WriteBack are semcache's semcache_writeback_* counters.
type WriteBack struct {
	Stored, Written, Waited, Dropped float64
	// IndexDropped is semcache_writeback_dropped_total{stage="index"}.
	IndexDropped float64
	// Batches and BatchedTexts are the USE-lite micro-batcher's
	// (semcache_embed_batches_total, semcache_embed_batched_texts_total).
	Batches, BatchedTexts float64
}

// Row is one setting measured over every round.
type Row struct {
	Mode string
	// Direct and Semcache are per round.
	Direct, Semcache []Phase
}

// Report is what Run measured.
type Report struct {
	Options Options
	Rows    []Row
}

// Run measures every mode of o, round after round. It stops early when
// ctx ends and returns what it has with the error.
func Run(ctx context.Context, o Options) (Report, error) {
	if err := o.Validate(); err != nil {
		return Report{}, err
	}
	o = o.withDefaults()
	rep := Report{Options: o}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return rep, fmt.Errorf("compare: upstream listener: %w", err)
	}
	up := &http.Server{Handler: upstream.New(upstream.Options{TTFT: o.UpstreamTTFT}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = up.Serve(ln) }()
	defer up.Close()
	upURL := "http://" + ln.Addr().String() + "/v1"

	cl := newClient(o.Concurrency, o.Stream)
	defer cl.close()
	rep.Rows = make([]Row, len(o.Modes))
	seq := 0
	for round := range o.Rounds {
		for i, mode := range o.Modes {
			rep.Rows[i].Mode = mode
			fmt.Fprintf(o.Progress, "round %d/%d, %s: direct\n", round+1, o.Rounds, mode)
			d, err := measure(ctx, cl, upURL, nil, o, &seq)
			if err != nil {
				return rep, err
			}
			rep.Rows[i].Direct = append(rep.Rows[i].Direct, d)
			fmt.Fprintf(o.Progress, "round %d/%d, %s: through semcache\n", round+1, o.Rounds, mode)
			s, err := measureSemcache(ctx, cl, upURL, mode, o, &seq)
			if err != nil {
				return rep, err
			}
			rep.Rows[i].Semcache = append(rep.Rows[i].Semcache, s)
		}
	}
	return rep, nil
}

// measureSemcache starts semcache in mode, measures through it and stops
// it.
func measureSemcache(ctx context.Context, cl *client, upURL, mode string, o Options, seq *int) (Phase, error) {
	p, err := startSemcache(ctx, o, upURL, mode)
	if err != nil {
		return Phase{}, err
	}
	defer p.stop()
	ph, err := measure(ctx, cl, p.apiURL, p, o, seq)
	if err != nil {
		return ph, err
	}
	if isBare(mode) {
		ph.RSS, ph.PeakRSS = p.rss()
		return ph, nil // no write-back
	}
	if err := p.flush(ctx); err != nil {
		fmt.Fprintf(o.Progress, "  %v\n", err)
	}
	ph.RSS, ph.PeakRSS = p.rss()
	ph.WriteBack, err = p.writeBack(ctx)
	return ph, err
}

// measure runs the warm-up, the c=1 phase and the throughput phase
// against base; p, when not nil, is the semcache process behind base.
func measure(ctx context.Context, cl *client, base string, p *process, o Options, seq *int) (Phase, error) {
	ph := Phase{Verdicts: map[string]int{}}
	url := base + "/chat/completions"
	for range o.Warmup {
		*seq++
		r := cl.do(ctx, url, *seq)
		if r.err != nil && ctx.Err() == nil {
			return ph, fmt.Errorf("compare: warm-up request to %s: %w", base, r.err)
		}
	}
	lat := make([]time.Duration, 0, o.LatencyRequests)
	cpu0 := p.cpu()
	for range o.LatencyRequests {
		*seq++
		r := cl.do(ctx, url, *seq)
		ph.note(r)
		lat = append(lat, r.latency)
	}
	if n := len(lat); n > 0 {
		ph.CPULatency = (p.cpu() - cpu0) / time.Duration(n)
	}
	if err := ctx.Err(); err != nil {
		return ph, err
	}
	slices.Sort(lat)
	ph.P50, ph.P99 = rank(lat, 0.50), rank(lat, 0.99)

	cpu0 = p.cpu()
	n, took := cl.flood(ctx, url, o.Concurrency, o.ThroughputDuration, seq, ph.note)
	if n > 0 {
		ph.Throughput = float64(n) / took.Seconds()
		ph.CPUThroughput = (p.cpu() - cpu0) / time.Duration(n)
	}
	return ph, ctx.Err()
}

func (ph *Phase) note(r result) {
	if r.err != nil {
		ph.Errors++
	}
	ph.Verdicts[r.verdict]++
}

// rank is the nearest-rank percentile of sorted durations.
func rank(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s))*p+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
