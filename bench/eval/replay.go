package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"
)

// Backend is a cache under test: the real lookup path in process
// (CacheBackend) or a running semcache over HTTP (HTTPBackend).
type Backend interface {
	// NewBatch starts a fresh, empty cache for one batch; name is unique
	// within a run.
	NewBatch(ctx context.Context, name string) (Batch, error)
}

// Warmer is an optional capability of a Backend: Warm sees every side the
// run may send before the first batch, so embeddings can be computed in
// batches (setup, not measured).
type Warmer interface {
	Warm(ctx context.Context, sides []Side) error
}

// Batch is one fresh cache.
type Batch interface {
	// Store puts entries without looking them up first (the setup of a
	// batch, not measured). Every entry must land, also in the similarity
	// tier, before Store returns.
	Store(ctx context.Context, entries []StoreEntry) error
	// Ask sends s as a client would. On a miss the answer is written back
	// (in process: Put of answer; over HTTP: the upstream's answer), and
	// the write-back has landed before Ask returns, so the next Ask is not
	// a read-after-write race.
	Ask(ctx context.Context, s Side, answer string) (Outcome, error)
	// Close releases the batch's cache.
	Close() error
}

// StoreEntry is one entry of a batch's setup.
type StoreEntry struct {
	Side   Side
	Answer string
}

// Tier values of an Outcome.
const (
	TierMiss     = ""
	TierExact    = "exact"
	TierSemantic = "semantic"
)

// Rejection is a candidate the verifier refused during one lookup.
type Rejection struct {
	EntryID string  `json:"entry_id"`
	Score   float32 `json:"score"`
	Reason  string  `json:"reason"`
	// Prompt and Answer of the candidate, when the backend knows them.
	Prompt string `json:"prompt,omitempty"`
	Answer string `json:"answer,omitempty"`
}

// Outcome is what one Ask saw.
type Outcome struct {
	// Tier is TierExact or TierSemantic for a hit, TierMiss otherwise.
	Tier string `json:"tier"`
	// Answer is the content served on a hit.
	Answer string `json:"answer,omitempty"`
	// EntryID and EntryPrompt identify the served entry (the prompt when
	// the backend knows it).
	EntryID     string  `json:"entry_id,omitempty"`
	EntryPrompt string  `json:"entry_prompt,omitempty"`
	Similarity  float32 `json:"similarity,omitempty"`
	// Score is the judge's calibrated score of a semantic hit, ScoreKind
	// how the judge scored it ("request" or "description").
	Score     float32 `json:"score,omitempty"`
	ScoreKind string  `json:"score_kind,omitempty"`
	// Matched is the prompt the judge compared for a semantic hit: the
	// entry's, or the wording of one of its aliases.
	Matched string `json:"matched,omitempty"`
	// Rejections lists the verifier's refusals (in process only).
	Rejections []Rejection `json:"rejections,omitempty"`
	// Latency is the whole lookup as the backend sees it: cache.Get in
	// process, the HTTP round trip over HTTP.
	Latency time.Duration `json:"latency_ns"`
	// StepTime is the sum of the cache's own step timings (exact, embed,
	// search; in process only).
	StepTime time.Duration `json:"step_time_ns,omitempty"`
	// Degraded is set when the embedder or the store failed and the
	// lookup fell back to a miss.
	Degraded bool `json:"degraded,omitempty"`
}

// Hit reports whether the lookup was served from the cache.
func (o Outcome) Hit() bool { return o.Tier != TierMiss }

// ReplayOptions configure Replay.
type ReplayOptions struct {
	// Sizes are the cache sizes (entries per batch) to replay at.
	Sizes []int
	// Seed fixes the batch assignment, the distractor choice and the
	// order of queries.
	Seed uint64
	// Classes decide correctness; build them with Classes over every
	// loaded pair (all splits), so the oracle upstream agrees.
	Classes ClassMap
	// Distractors fill each batch up to its size. Sides whose key is a
	// key of the replayed pairs are left out (never texts of the current
	// run), as are repeats.
	Distractors []Side
	// Progress, when set, gets one line per batch.
	Progress io.Writer
}

// QueryRecord is one counterpart asked in one batch.
type QueryRecord struct {
	Size  int `json:"size"`
	Batch int `json:"batch"`
	// Pair is the index of the pair in Replay's input.
	Pair     int    `json:"pair"`
	Label    int    `json:"label"`
	Family   string `json:"family"`
	Category string `json:"category"`
	// Class is the query's class; Served the class of the served answer
	// ("" on a miss).
	Class   ClassID `json:"class"`
	Served  ClassID `json:"served,omitempty"`
	Outcome Outcome `json:"outcome"`
}

// Hit reports whether the query was served from the cache; Correct whether
// the served answer belongs to the query's class.
func (r QueryRecord) Hit() bool     { return r.Outcome.Hit() }
func (r QueryRecord) Correct() bool { return r.Hit() && r.Served == r.Class }

// SizeReport is the replay at one cache size.
type SizeReport struct {
	Size    int `json:"size"`
	Batches int `json:"batches"`
	// MinEntries is the fewest entries any batch held; below Size when
	// the distractor pool ran short.
	MinEntries int `json:"min_entries"`
	// DuplicateRecall re-asks every stored original verbatim after its
	// batch: the share served from the exact tier with the right answer
	// (a sanity column: it should be 1).
	DuplicateRecall Interval `json:"duplicate_recall"`
	// Rows are "all", then per family, then per kind/type.
	Rows []Row `json:"rows"`
	// Latency of the counterparts' lookups.
	LatencyP50  time.Duration `json:"latency_p50_ns"`
	LatencyP99  time.Duration `json:"latency_p99_ns"`
	StepTimeP50 time.Duration `json:"step_time_p50_ns"`
	StepTimeP99 time.Duration `json:"step_time_p99_ns"`
	// Records are every query of this size, in the order asked.
	Records []QueryRecord `json:"records,omitempty"`
}

// ReplayReport is the outcome of Replay.
type ReplayReport struct {
	Pairs int `json:"pairs"`
	// DistractorPool is the number of usable distractors.
	DistractorPool int          `json:"distractor_pool"`
	Sizes          []SizeReport `json:"sizes"`
	// Warnings say where the replay is weaker than asked (short pool).
	Warnings []string `json:"warnings,omitempty"`
}

// Replay replays pairs through a backend, once per cache size. Per size the
// pairs (in an order fixed by the seed) are cut into batches of Size/2
// pairs; each batch gets a fresh cache that stores the batch's originals
// (the A sides, with their contexts) plus distractors up to Size entries,
// then asks the counterparts (B sides) in a shuffled order. A miss writes
// its answer back, so a later counterpart may hit an earlier one; whether a
// hit is right is decided by class, not by the pair's label. Finally each
// original is asked again verbatim (duplicate recall).
func Replay(ctx context.Context, pairs []Pair, b Backend, opts ReplayOptions) (ReplayReport, error) {
	var errs []error
	if len(pairs) == 0 {
		errs = append(errs, errors.New("eval: no pairs"))
	}
	if b == nil {
		errs = append(errs, errors.New("eval: no backend"))
	}
	if len(opts.Sizes) == 0 {
		errs = append(errs, errors.New("eval: no cache sizes"))
	}
	for _, n := range opts.Sizes {
		if n < 2 {
			errs = append(errs, fmt.Errorf("eval: cache size %d: want at least 2 (an original and its counterpart's room)", n))
		}
	}
	if opts.Classes == nil {
		errs = append(errs, errors.New("eval: no classes"))
	}
	if err := errors.Join(errs...); err != nil {
		return ReplayReport{}, err
	}

	runKeys := map[string]bool{}
	for _, p := range pairs {
		runKeys[p.SideA().Key()] = true
		runKeys[p.SideB().Key()] = true
	}
	var pool []Side
	seen := map[string]bool{}
	for _, d := range opts.Distractors {
		k := d.Key()
		if runKeys[k] || seen[k] || Normalize(d.Text) == "" {
			continue
		}
		seen[k] = true
		pool = append(pool, d)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x7265706c6179))
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	order := rng.Perm(len(pairs))

	rep := ReplayReport{Pairs: len(pairs), DistractorPool: len(pool)}
	if w, ok := b.(Warmer); ok {
		sides := make([]Side, 0, 2*len(pairs)+len(pool))
		for _, p := range pairs {
			sides = append(sides, p.SideA(), p.SideB())
		}
		sides = append(sides, pool...)
		if err := w.Warm(ctx, sides); err != nil {
			return ReplayReport{}, err
		}
	}
	for _, size := range opts.Sizes {
		sr, warn, err := replaySize(ctx, pairs, b, opts, size, order, pool)
		if err != nil {
			return ReplayReport{}, err
		}
		if warn != "" {
			rep.Warnings = append(rep.Warnings, warn)
		}
		rep.Sizes = append(rep.Sizes, sr)
	}
	return rep, nil
}

// requestIdentity is what makes two sides the same request: the exact
// messages (the cache's exact tier tells "Foo" from "foo").
func requestIdentity(s Side) string {
	b, _ := json.Marshal(s.Messages()) // plain strings: cannot fail
	return string(b)
}

func replaySize(ctx context.Context, pairs []Pair, b Backend, opts ReplayOptions, size int, order []int, pool []Side) (SizeReport, string, error) {
	sr := SizeReport{Size: size, MinEntries: size}
	per := size / 2
	var origAsked, origExact int
	short := false
	for start, batchNo := 0, 0; start < len(order); start, batchNo = start+per, batchNo+1 {
		if err := ctx.Err(); err != nil {
			return SizeReport{}, "", fmt.Errorf("eval: %w", err)
		}
		idx := order[start:min(start+per, len(order))]
		var entries []StoreEntry
		var originals []Side
		have := map[string]bool{}
		for _, i := range idx {
			a := pairs[i].SideA()
			if id := requestIdentity(a); !have[id] {
				have[id] = true
				originals = append(originals, a)
				entries = append(entries, StoreEntry{Side: a, Answer: opts.Classes.Answer(a)})
			}
		}
		need := size - len(entries)
		if need > len(pool) {
			short = true
			need = len(pool)
		}
		// A different window of the pool per batch, so no distractor is
		// favoured; within a batch each is used once.
		off := 0
		if len(pool) > 0 {
			off = (batchNo * need) % len(pool)
		}
		for k := range need {
			d := pool[(off+k)%len(pool)]
			entries = append(entries, StoreEntry{Side: d, Answer: opts.Classes.Answer(d)})
		}
		sr.MinEntries = min(sr.MinEntries, len(entries))

		batch, err := b.NewBatch(ctx, fmt.Sprintf("n%d-b%d", size, batchNo))
		if err != nil {
			return SizeReport{}, "", err
		}
		recs, asked, exact, err := runBatch(ctx, batch, pairs, opts, size, batchNo, idx, entries, originals)
		if cerr := batch.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("eval: closing batch: %w", cerr)
		}
		if err != nil {
			return SizeReport{}, "", err
		}
		sr.Records = append(sr.Records, recs...)
		origAsked += asked
		origExact += exact
		sr.Batches++
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "size %d: batch %d: %d entries, %d queries\n", size, batchNo, len(entries), len(idx))
		}
	}
	sr.DuplicateRecall = Wilson(origExact, origAsked)
	sr.Rows = Tally(sr.Records)
	var lat, steps []time.Duration
	for _, r := range sr.Records {
		lat = append(lat, r.Outcome.Latency)
		steps = append(steps, r.Outcome.StepTime)
	}
	sr.LatencyP50, sr.LatencyP99 = Percentile(lat, 0.50), Percentile(lat, 0.99)
	sr.StepTimeP50, sr.StepTimeP99 = Percentile(steps, 0.50), Percentile(steps, 0.99)
	warn := ""
	if short {
		warn = fmt.Sprintf("size %d: the distractor pool (%d) is too small; batches held as few as %d entries", size, len(pool), sr.MinEntries)
	}
	return sr, warn, nil
}

// runBatch stores a batch's entries, asks its counterparts, then re-asks
// its originals. It returns the query records and the originals' re-ask
// counts (asked, served exactly and rightly).
func runBatch(ctx context.Context, batch Batch, pairs []Pair, opts ReplayOptions, size, batchNo int, idx []int,
	entries []StoreEntry, originals []Side) ([]QueryRecord, int, int, error) {
	if err := batch.Store(ctx, entries); err != nil {
		return nil, 0, 0, fmt.Errorf("eval: size %d batch %d: storing: %w", size, batchNo, err)
	}
	queries := slices.Clone(idx)
	qrng := rand.New(rand.NewPCG(opts.Seed, uint64(size)<<32|uint64(batchNo)))
	qrng.Shuffle(len(queries), func(i, j int) { queries[i], queries[j] = queries[j], queries[i] })
	recs := make([]QueryRecord, 0, len(queries))
	for _, i := range queries {
		p := pairs[i]
		q := p.SideB()
		out, err := batch.Ask(ctx, q, opts.Classes.Answer(q))
		if err != nil {
			return nil, 0, 0, fmt.Errorf("eval: size %d batch %d: asking pair %d: %w", size, batchNo, i, err)
		}
		rec := QueryRecord{Size: size, Batch: batchNo, Pair: i, Label: p.Label, Family: p.Family(), Category: p.Category(),
			Class: opts.Classes.Of(q.Key()), Outcome: out}
		if out.Hit() {
			served, ok := ParseAnswer(out.Answer)
			if !ok {
				return nil, 0, 0, fmt.Errorf("eval: size %d batch %d: pair %d: served answer %q is not an oracle answer", size, batchNo, i, out.Answer)
			}
			rec.Served = served
		}
		recs = append(recs, rec)
	}
	exact := 0
	for _, o := range originals {
		out, err := batch.Ask(ctx, o, opts.Classes.Answer(o))
		if err != nil {
			return nil, 0, 0, fmt.Errorf("eval: size %d batch %d: re-asking an original: %w", size, batchNo, err)
		}
		if served, ok := ParseAnswer(out.Answer); out.Tier == TierExact && ok && served == opts.Classes.Of(o.Key()) {
			exact++
		}
	}
	return recs, len(originals), exact, nil
}

// Row is the replay's figures for one group of queries at one size.
type Row struct {
	// Group is "all", "family=<f>" or "type=<t>".
	Group  string `json:"group"`
	Label1 int    `json:"label1"`
	Label0 int    `json:"label0"`
	Hits   int    `json:"hits"`
	// Recall: label-1 queries served a right answer / label-1 queries.
	Recall Interval `json:"paraphrase_recall"`
	// FalseHit: label-0 queries served a wrong answer / label-0 queries.
	FalseHit Interval `json:"false_hit_rate"`
	// WrongHit: label-1 queries served another class's answer / label-1
	// queries.
	WrongHit Interval `json:"wrong_hit_rate"`
	// ServedWrong: wrong answers / all hits.
	ServedWrong Interval `json:"served_wrong_rate"`
	// Label0Right counts label-0 queries served an answer of their own
	// class (through a write-back, or a label that contradicts the
	// classes): hits, but not wrong ones.
	Label0Right int `json:"label0_right_hits"`
	// Hits and wrong hits by tier.
	ExactHits     int `json:"exact_hits"`
	SemanticHits  int `json:"semantic_hits"`
	WrongExact    int `json:"wrong_exact"`
	WrongSemantic int `json:"wrong_semantic"`
	// Degraded lookups (embedder or store failed: a miss).
	Degraded int `json:"degraded"`
	// RejectedWrong counts, by reason, refused candidates of another class
	// (wrong answers prevented); RejectedRight refused candidates of the
	// query's own class (right answers lost).
	RejectedWrong map[string]int `json:"rejected_wrong"`
	RejectedRight map[string]int `json:"rejected_right"`
}

// Tally aggregates query records into rows: all, per family, per kind/type.
func Tally(recs []QueryRecord) []Row {
	fam, cat := map[string][]QueryRecord{}, map[string][]QueryRecord{}
	for _, r := range recs {
		fam[r.Family] = append(fam[r.Family], r)
		cat[r.Category] = append(cat[r.Category], r)
	}
	rows := []Row{tallyRow("all", recs)}
	for _, k := range sortedMapKeys(fam) {
		rows = append(rows, tallyRow("family="+k, fam[k]))
	}
	for _, k := range sortedMapKeys(cat) {
		rows = append(rows, tallyRow("type="+k, cat[k]))
	}
	return rows
}

func tallyRow(name string, recs []QueryRecord) Row {
	r := Row{Group: name, RejectedWrong: map[string]int{}, RejectedRight: map[string]int{}}
	var right1, wrong1, wrong0, wrong int
	for _, q := range recs {
		if q.Label == 1 {
			r.Label1++
		} else {
			r.Label0++
		}
		if q.Outcome.Degraded {
			r.Degraded++
		}
		for _, rej := range q.Outcome.Rejections {
			if c, ok := ParseAnswer(rej.Answer); ok && c == q.Class {
				r.RejectedRight[rej.Reason]++
			} else {
				r.RejectedWrong[rej.Reason]++
			}
		}
		if !q.Hit() {
			continue
		}
		r.Hits++
		ok := q.Correct()
		switch q.Outcome.Tier {
		case TierExact:
			r.ExactHits++
			if !ok {
				r.WrongExact++
			}
		case TierSemantic:
			r.SemanticHits++
			if !ok {
				r.WrongSemantic++
			}
		}
		if !ok {
			wrong++
		}
		switch {
		case q.Label == 1 && ok:
			right1++
		case q.Label == 1:
			wrong1++
		case ok:
			r.Label0Right++
		default:
			wrong0++
		}
	}
	r.Recall = Wilson(right1, r.Label1)
	r.WrongHit = Wilson(wrong1, r.Label1)
	r.FalseHit = Wilson(wrong0, r.Label0)
	r.ServedWrong = Wilson(wrong, r.Hits)
	return r
}
