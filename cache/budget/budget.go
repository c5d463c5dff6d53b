package budget

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// Defaults of Options (the flags of semcache serve refer to them).
const (
	// DefaultMaxExploreFraction caps the explorations (extra upstream
	// calls) at this share of the budgeted namespaces' lookups.
	DefaultMaxExploreFraction = 0.05
	// DefaultMinExplore is the exploration probability of a confident
	// decision to serve: what keeps measuring the served wrong-hit rate.
	DefaultMinExplore = 0.03
	// DefaultConfidence is the one-sided confidence of the bound that must
	// stay within the budget.
	DefaultConfidence = 0.95
	// DefaultScoreFloor is the lowest calibrated score a budgeted lookup
	// asks the verifier for (below it a candidate is never considered).
	DefaultScoreFloor = 0.5
)

// admitStricter divides the error probability of the bound that admits a
// bucket (see curve.fit): 0.95 keeps, 0.99 admits.
const admitStricter = 5

// quantile is the standard normal quantile of p.
func quantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// Store keeps the learned state across restarts: an entry's state keyed
// by its cache key (deleted with the entry by the store's owner), and each
// namespace's counts. Load returns nil, nil for an absent key.
type Store interface {
	LoadEntry(key string) ([]byte, error)
	SaveEntry(key string, state []byte) error
	LoadNamespaces() (map[string][]byte, error)
	SaveNamespace(ns string, state []byte) error
}

// Options configure a Learner.
type Options struct {
	// Default is the error budget of namespaces not in Budgets (0: they
	// have none and keep the static cut-off).
	Default float64
	// Budgets are per-namespace error budgets: the largest share of served
	// semantic hits that may be wrong.
	Budgets map[string]float64
	// MaxExploreFraction caps explorations at this share of the lookups
	// counted by Seen (0: DefaultMaxExploreFraction).
	MaxExploreFraction float64
	// MinExplore is the exploration probability of a confident decision to
	// serve (0: DefaultMinExplore).
	MinExplore float64
	// Confidence of the upper bound on the served error (0:
	// DefaultConfidence).
	Confidence float64
	// ScoreFloor is the lowest score considered (0: DefaultScoreFloor).
	ScoreFloor float32
	// Store persists the state (required).
	Store Store
	// Rand draws uniformly from [0, 1) (nil: math/rand/v2).
	Rand func() float64
	// Trace, when set, is called with every decision (benchmarks and
	// tests).
	Trace  func(Candidate, Decision)
	Logger *slog.Logger
}

func (o *Options) validate() error {
	var errs []error
	check := func(name string, v float64) {
		if v < 0 || v >= 1 || math.IsNaN(v) {
			errs = append(errs, fmt.Errorf("budget: %s %v must be in [0, 1)", name, v))
		}
	}
	check("default error budget", o.Default)
	for ns, b := range o.Budgets {
		if b <= 0 || b >= 1 || math.IsNaN(b) {
			errs = append(errs, fmt.Errorf("budget: error budget %v of namespace %q must be in (0, 1)", b, ns))
		}
	}
	check("MaxExploreFraction", o.MaxExploreFraction)
	check("MinExplore", o.MinExplore)
	check("Confidence", o.Confidence)
	check("ScoreFloor", float64(o.ScoreFloor))
	if o.Confidence != 0 && o.Confidence < 0.5 {
		errs = append(errs, fmt.Errorf("budget: Confidence %v must be at least 0.5", o.Confidence))
	}
	if o.Store == nil {
		errs = append(errs, errors.New("budget: needs a store"))
	}
	return errors.Join(errs...)
}

// Action is what to do with a candidate.
type Action uint8

const (
	// Miss: do not serve it; the request goes upstream (and the candidate
	// is labelled by comparing the answers).
	Miss Action = iota
	// Serve it.
	Serve
	// Explore: it would be served, but goes upstream to be checked.
	Explore
)

func (a Action) String() string {
	switch a {
	case Serve:
		return "serve"
	case Explore:
		return "explore"
	}
	return "miss"
}

// Candidate is a semantic candidate of a budgeted namespace.
type Candidate struct {
	Namespace string
	// Entry is the cache key of the entry the candidate serves.
	Entry string
	// Kind is how the verifier scored it ("request", "description").
	Kind  string
	Score float32
	// Alias: the candidate matched through an alias of its entry (the
	// wording of an earlier hit served from it), so it is right only if
	// that hit was.
	Alias bool
}

// Decision is what Decide chose.
type Decision struct {
	Action Action
	// Risk is the estimated probability that the candidate is wrong;
	// Allowance the namespace's risk allowance (-1: nothing is served).
	Risk, Allowance float64
	// Prob is the probability with which this candidate is labelled: 1
	// for a miss, the exploration probability for an exploration, 0 for a
	// hit served.
	Prob float64
	// Evidence is what the candidate's entry had shown.
	Evidence Evidence
}

// Weight is the weight of this decision's label: 1/Prob.
func (d Decision) Weight() float64 {
	if d.Prob <= 0 {
		return 1
	}
	return 1 / d.Prob
}

// Source names where a label came from.
type Source string

// The sources of labels.
const (
	SourceMiss     Source = "miss"
	SourceExplore  Source = "explore"
	SourceShadow   Source = "shadow"
	SourceFeedback Source = "feedback"
)

// Sources lists them (metrics pre-register their labels).
func Sources() []Source { return []Source{SourceMiss, SourceExplore, SourceShadow, SourceFeedback} }

// Observation is a labelled candidate.
type Observation struct {
	Candidate
	Wrong  bool
	Source Source
	// Weight is the label's weight (Decision.Weight; 0 counts as 1).
	Weight float64
}

// Learner decides and learns. It is safe for concurrent use.
type Learner struct {
	opts Options
	// budgets are the error budgets in force (SetBudgets replaces them).
	budgets atomic.Pointer[budgets]
	// maxExplore is the cap on explorations (float64 bits).
	maxExplore atomic.Uint64
	// z and zAdmit are the normal quantiles of the bound that keeps a
	// bucket admitted and of the one that admits it (see curve.fit).
	z, zAdmit float64
	rand      func() float64
	log       *slog.Logger

	mu  sync.Mutex
	nss map[string]*nsState

	// Entries are read and written through the store; emu orders the
	// read-modify-write of one entry's state.
	emu sync.Mutex

	lookups, explores atomic.Uint64
}

// budgets are a Learner's error budgets: the default and per namespace.
type budgets struct {
	def float64
	per map[string]float64
}

// nsState is a namespace's counts and counters.
type nsState struct {
	budget float64
	// fit is what Decide reads: refits (on the label path, see refit)
	// swap it whole, so a decision never waits for one.
	fit atomic.Pointer[fit]
	// fitMu orders refits: each starts from the fit stored by the one
	// before.
	fitMu sync.Mutex

	mu                  sync.Mutex
	c                   curve
	sinceFit, sinceSave int
	decisions           [3]uint64 // by Action
	riskServed          float64   // sum of the risk of served hits
	sampledL, sampledW  float64   // explorations' label weight and wrong weight
	sampledL2           float64
	sampled             uint64
	labels              [4][2]uint64 // by source, right/wrong
	// The brake: the explorations' recent wrong rate, weighted by
	// 1/probability and decayed by brakeDecay per exploration.
	brakeL, brakeW, brakeL2 float64
	brakes                  uint64 // candidates refused by the brake
}

// The brake's parameters.
const (
	// exploreLabels sets how fast exploration falls with the labels of a
	// block: probability exploreLabels/(labels+exploreLabels).
	exploreLabels = 10.0
	// brakeDecay is the weight an exploration's label loses per later
	// exploration (about the last 1/(1-brakeDecay) count).
	brakeDecay = 0.98
	// brakeMin is the effective number of explorations the brake needs.
	brakeMin = 10.0
	// brakeExplore is the exploration probability while braked.
	brakeExplore = 0.25
	// maxWeightBudgets caps the weight of an exploration's label at this
	// many inverse budgets (5 at a 5% budget, 25 at 1%): see Record.
	maxWeightBudgets = 0.25
)

// braked reports whether the explorations' recent wrong rate is above
// the budget with 95% confidence: the curve admits what is not safe (the
// traffic changed faster than its counts). The caller holds s.mu.
func (s *nsState) braked() bool {
	if s.brakeL <= 0 {
		return false
	}
	n := s.brakeL * s.brakeL / s.brakeL2
	if n < brakeMin {
		return false
	}
	return wilson(s.brakeW/s.brakeL, n).Low > s.budget
}

// New validates opts and loads the persisted namespace state.
func New(opts Options) (*Learner, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.MaxExploreFraction == 0 {
		opts.MaxExploreFraction = DefaultMaxExploreFraction
	}
	if opts.MinExplore == 0 {
		opts.MinExplore = DefaultMinExplore
	}

	if opts.Confidence == 0 {
		opts.Confidence = DefaultConfidence
	}
	if opts.ScoreFloor == 0 {
		opts.ScoreFloor = DefaultScoreFloor
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Learner{opts: opts, z: quantile(opts.Confidence), zAdmit: quantile(1 - (1-opts.Confidence)/admitStricter), rand: opts.Rand, log: opts.Logger,
		nss: map[string]*nsState{}}
	l.budgets.Store(&budgets{def: opts.Default, per: maps.Clone(opts.Budgets)})
	l.maxExplore.Store(math.Float64bits(opts.MaxExploreFraction))
	saved, err := opts.Store.LoadNamespaces()
	if err != nil {
		return nil, fmt.Errorf("budget: load namespace state: %w", err)
	}
	for ns, b := range saved {
		// A namespace without a budget now keeps its counts for a reload
		// that gives it one (budget 0 admits nothing).
		budget, _ := l.Budget(ns)
		s := &nsState{budget: budget}
		if err := s.c.UnmarshalBinary(b); err != nil {
			l.log.Warn("budget: namespace state unreadable, starting afresh", "namespace", ns, "err", err)
			continue
		}
		s.fit.Store(s.c.fit(budget, l.z, l.zAdmit, nil))
		l.nss[ns] = s
	}
	for ns := range opts.Budgets {
		l.ns(ns) // configured namespaces show from the start
	}
	return l, nil
}

// Namespaces lists the namespaces given a budget by name.
func (l *Learner) Namespaces() []string {
	return slices.Sorted(maps.Keys(l.budgets.Load().per))
}

// Budget is the error budget of ns, and whether it has one.
func (l *Learner) Budget(ns string) (float64, bool) {
	bs := l.budgets.Load()
	if b, ok := bs.per[ns]; ok {
		return b, true
	}
	return bs.def, bs.def > 0
}

// CheckBudgets validates what SetBudgets would be given.
func CheckBudgets(def float64, per map[string]float64, maxExplore float64) error {
	o := Options{Default: def, Budgets: per, MaxExploreFraction: maxExplore, Store: nopStore{}}
	return o.validate()
}

// nopStore lets CheckBudgets validate Options without a store.
type nopStore struct{}

func (nopStore) LoadEntry(string) ([]byte, error)           { return nil, nil }
func (nopStore) SaveEntry(string, []byte) error             { return nil }
func (nopStore) LoadNamespaces() (map[string][]byte, error) { return nil, nil }
func (nopStore) SaveNamespace(string, []byte) error         { return nil }

// SetBudgets replaces the error budgets (a config reload): def is the
// budget of namespaces not in per (0: none), maxExplore the cap on
// explorations (0: DefaultMaxExploreFraction). Invalid values are
// rejected whole and the budgets in force stay. What each namespace has
// learned stays: its counts do not depend on the budget, only what they
// admit does, so every namespace is refitted to its new budget at once.
// A namespace whose budget is removed keeps its counts (in memory and in
// the store) and goes back to the static cut-off; given a budget again,
// it starts from them.
func (l *Learner) SetBudgets(def float64, per map[string]float64, maxExplore float64) error {
	if err := CheckBudgets(def, per, maxExplore); err != nil {
		return err
	}
	if maxExplore == 0 {
		maxExplore = DefaultMaxExploreFraction
	}
	l.maxExplore.Store(math.Float64bits(maxExplore))
	// Under l.mu, as ns creates a namespace: one created before is in
	// states, one created after reads the new budgets.
	l.mu.Lock()
	l.budgets.Store(&budgets{def: def, per: maps.Clone(per)})
	states := maps.Clone(l.nss)
	l.mu.Unlock()
	for name, s := range states {
		b, ok := l.Budget(name)
		if !ok {
			continue // not decided any more; refitted when given one again
		}
		s.mu.Lock()
		changed := s.budget != b
		s.budget = b
		s.mu.Unlock()
		if changed {
			// The set admitted must fit the new budget at once; what
			// was admitted before stays admitted only if it does (the
			// stay bound), and what the new budget would add must pass
			// the admission bound, as at any refit.
			l.refit(s)
		}
	}
	for ns := range per {
		l.ns(ns)
	}
	return nil
}

// ScoreFloor is the lowest calibrated score a budgeted lookup considers.
func (l *Learner) ScoreFloor() float32 { return l.opts.ScoreFloor }

func (l *Learner) ns(name string) *nsState {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.nss[name]
	if s == nil {
		budget, _ := l.Budget(name)
		s = &nsState{budget: budget}
		s.fit.Store(s.c.fit(budget, l.z, l.zAdmit, nil))
		l.nss[name] = s
	}
	return s
}

// Seen counts a lookup of a budgeted namespace: explorations are capped at
// a share of them.
func (l *Learner) Seen() { l.lookups.Add(1) }

// mayExplore takes an exploration from the global cap.
func (l *Learner) mayExplore() bool {
	for {
		n := l.explores.Load()
		if float64(n) >= math.Float64frombits(l.maxExplore.Load())*float64(l.lookups.Load()) {
			return false
		}
		if l.explores.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// refitEvery bounds how stale a namespace's fit may get, in candidates: a
// decision counts 1, a label refitEvery/4. The refit runs on the label
// path (Record), never in Decide.
const refitEvery = 32

// LabelWindow is the label weight a namespace's curve remembers: beyond
// it, every count is scaled down so that it holds this much, and older
// labels fade (the curve follows traffic whose errors drift).
const LabelWindow = 4000

// Decide chooses what to do with a candidate of a budgeted namespace and
// counts it.
func (l *Learner) Decide(c Candidate) Decision {
	s := l.ns(c.Namespace)
	ev := l.evidence(c.Entry, c.Score)
	k, b := kindIndex(c.Kind, c.Alias, ev), BucketOf(c.Score)

	s.mu.Lock()
	s.sinceFit++ // the next label refits
	f := s.fit.Load()
	if ev == Vouched && f.lab[k][b] == 0 {
		// Nothing is known yet of vouched candidates at this score: they
		// are taken for fresh ones (an entry's right answer below the
		// score does not make a candidate riskier), until their own
		// labels (recorded as vouched) say what they are worth.
		k = kindIndex(c.Kind, c.Alias, Fresh)
	}
	s.c.cells[k][b].N++
	risk := f.p[k][b]
	d := Decision{Action: Miss, Risk: risk, Allowance: f.allow, Prob: 1, Evidence: ev}
	if f.admitted[k][b] {
		// Explore while the estimate rests on few labels, less and less
		// as they accumulate (an admitted block is labelled only by
		// explorations), never below MinExplore: what keeps measuring
		// the served wrong-hit rate. While the explorations measure more
		// wrong than the budget (the brake), nothing is served: the
		// admitted candidates are explored or missed until the curve has
		// caught up.
		q := max(l.opts.MinExplore, min(0.5, exploreLabels/(f.lab[k][b]+exploreLabels)))
		braked := s.braked()
		if braked {
			q = max(q, brakeExplore)
		}
		switch {
		case l.rand() < q && l.mayExplore():
			d.Action, d.Prob = Explore, q
		case braked:
			s.brakes++
		default:
			d.Action, d.Prob = Serve, 0
			s.riskServed += risk
		}
	}
	s.decisions[d.Action]++
	s.mu.Unlock()
	if l.opts.Trace != nil {
		l.opts.Trace(c, d)
	}
	return d
}

// refit re-estimates s's curve and swaps the new fit in. It copies the
// counts under s.mu and fits the copy without it, so decisions (which
// take s.mu to count their candidate) never wait for a fit; refits of one
// namespace run one at a time (s.fitMu), each from the fit stored before.
// The caller must not hold s.mu.
func (l *Learner) refit(s *nsState) {
	s.fitMu.Lock()
	defer s.fitMu.Unlock()
	s.mu.Lock()
	c, budget := s.c, s.budget
	s.sinceFit = 0
	s.mu.Unlock()
	s.fit.Store(c.fit(budget, l.z, l.zAdmit, s.fit.Load()))
}

// evidence reads an entry's state and classifies it for a candidate
// scoring s.
func (l *Learner) evidence(key string, s float32) Evidence {
	if key == "" {
		return Fresh
	}
	b, err := l.opts.Store.LoadEntry(key)
	if err != nil || b == nil {
		return Fresh
	}
	var e entryState
	if err := e.UnmarshalBinary(b); err != nil {
		return Fresh
	}
	return e.evidence(s)
}

// saveEvery is how many labels a namespace's state may lag behind its
// store (Flush saves at once).
const saveEvery = 16

// Record learns from a labelled candidate.
func (l *Learner) Record(o Observation) {
	if _, ok := l.Budget(o.Namespace); !ok {
		return
	}
	w := o.Weight
	if w <= 0 {
		w = 1
	}
	if b, _ := l.Budget(o.Namespace); w > maxWeightBudgets/b {
		w = max(1, maxWeightBudgets/b)
	}
	s := l.ns(o.Namespace)
	// The class is the entry's as it was when the candidate was decided.
	k, b := kindIndex(o.Kind, o.Alias, l.evidence(o.Entry, o.Score)), BucketOf(o.Score)
	s.mu.Lock()
	// An exploration's label weighs 1/probability: the labels of an
	// admitted bucket, which come from explorations only, then move its
	// estimate as fast as a refused bucket's labels move its own.
	// Counted once, they would let a bucket admitted on a lucky run of
	// labels stay admitted 1/probability times longer than its luck
	// lasts, and the served error would be that of lucky runs. The
	// uncertainty of weighted labels is in their effective count.
	//
	// The weight is capped (maxWeightBudgets): at the exploration floor
	// (MinExplore, 3%) one label would weigh 33, and a single wrong one
	// withdrew a block that hundreds of labels showed within the budget;
	// refused, the block was labelled by every miss for thousands of
	// requests until its estimate recovered, which cost more hits than
	// anything else (measured on the tune split). At a quarter of the
	// inverse budget, a few wrong labels still withdraw a block admitted
	// on a lucky run (TestNoSafeThresholdStopsServing), one does not
	// withdraw a sound one.
	s.c.add(k, b, o.Wrong, w)
	if o.Source == SourceShadow {
		s.c.cells[k][b].N++ // shadow candidates are not decided
	}
	if o.Source == SourceExplore {
		s.brakeL, s.brakeW, s.brakeL2 = s.brakeL*brakeDecay+w, s.brakeW*brakeDecay, s.brakeL2*brakeDecay*brakeDecay+w*w
		if o.Wrong {
			s.brakeW += w
		}
		s.sampled++
		s.sampledL += w
		s.sampledL2 += w * w
		if o.Wrong {
			s.sampledW += w
		}
	}
	if i := slices.Index(Sources(), o.Source); i >= 0 {
		s.labels[i][b2i(o.Wrong)]++
	}
	s.sinceFit += refitEvery / 4 // a label moves the fit more than a count
	stale := s.sinceFit >= refitEvery
	if n := s.c.labels(); stale && n > LabelWindow {
		s.c.scale(LabelWindow / n)
	}
	s.sinceSave++
	var state []byte
	if s.sinceSave >= saveEvery {
		s.sinceSave = 0
		state, _ = s.c.MarshalBinary()
	}
	s.mu.Unlock()
	if stale {
		l.refit(s)
	}
	if state != nil {
		if err := l.opts.Store.SaveNamespace(o.Namespace, state); err != nil {
			l.log.Warn("budget: saving namespace state failed", "namespace", o.Namespace, "err", err)
		}
	}
	if o.Entry != "" {
		l.recordEntry(o.Entry, o.Score, o.Wrong)
	}
}

func (l *Learner) recordEntry(key string, score float32, wrong bool) {
	l.emu.Lock()
	defer l.emu.Unlock()
	var e entryState
	if b, err := l.opts.Store.LoadEntry(key); err == nil && b != nil {
		_ = e.UnmarshalBinary(b) // unreadable state starts afresh
	}
	e.add(score, wrong)
	b, _ := e.MarshalBinary()
	if err := l.opts.Store.SaveEntry(key, b); err != nil {
		l.log.Warn("budget: saving entry state failed", "entry", key, "err", err)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Flush saves every namespace's state.
func (l *Learner) Flush() error {
	l.mu.Lock()
	names := make([]string, 0, len(l.nss))
	states := make([][]byte, 0, len(l.nss))
	for name, s := range l.nss {
		l.refit(s)
		s.mu.Lock()
		b, _ := s.c.MarshalBinary()
		s.sinceSave = 0
		s.mu.Unlock()
		names, states = append(names, name), append(states, b)
	}
	l.mu.Unlock()
	var errs []error
	for i, name := range names {
		if err := l.opts.Store.SaveNamespace(name, states[i]); err != nil {
			errs = append(errs, fmt.Errorf("budget: save namespace %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Interval is an estimate with its 95% interval.
type Interval struct {
	Value, Low, High float64
	// N is the (effective) number of observations behind it.
	N float64
}

// NamespaceStats is what a namespace's learner knows, for metrics and the
// dashboard.
type NamespaceStats struct {
	Namespace string
	Budget    float64
	// Allowance is the risk allowance (-1: nothing is served yet).
	Allowance float64
	// Estimated is the mean estimated risk of the hits served; Bound the
	// upper confidence bound of the error of what is admitted now.
	Estimated, Bound float64
	// Measured is the wrong-hit rate measured by the explorations
	// (weighted: an estimate of the error of what is served).
	Measured Interval
	// Decisions by action.
	Served, Explored, Missed uint64
	// Braked: the explorations' recent wrong rate is above the budget, so
	// nothing is served; Brakes counts the candidates it refused.
	Braked bool
	Brakes uint64
	// Labels by source and result.
	Labels map[Source][2]uint64
	// MinScore is, per kind, the lowest score admitted (absent: none).
	MinScore map[string]float32
	// Labelled is the labels the namespace's counts hold (persisted:
	// they survive a restart, unlike the counters above).
	Labelled float64
}

// Snapshot returns the stats of every namespace with a budget, sorted by
// name.
func (l *Learner) Snapshot() []NamespaceStats {
	l.mu.Lock()
	names := make([]string, 0, len(l.nss))
	for n := range l.nss {
		if _, ok := l.Budget(n); ok {
			names = append(names, n)
		}
	}
	l.mu.Unlock()
	slices.Sort(names)
	out := make([]NamespaceStats, 0, len(names))
	for _, n := range names {
		out = append(out, l.stats(n))
	}
	return out
}

// Stats returns one namespace's stats.
func (l *Learner) Stats(ns string) NamespaceStats {
	return l.stats(ns)
}

func (l *Learner) stats(name string) NamespaceStats {
	s := l.ns(name)
	f := s.fit.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := NamespaceStats{Namespace: name, Budget: s.budget, Allowance: f.allow, Bound: f.ucb,
		Served: s.decisions[Serve], Explored: s.decisions[Explore], Missed: s.decisions[Miss],
		Labels: map[Source][2]uint64{}, MinScore: map[string]float32{}, Braked: s.braked(), Brakes: s.brakes}
	if st.Served > 0 {
		st.Estimated = s.riskServed / float64(st.Served)
	}
	if s.sampledL > 0 {
		neff := s.sampledL * s.sampledL / s.sampledL2
		st.Measured = wilson(s.sampledW/s.sampledL, neff)
	}
	for i, src := range Sources() {
		st.Labels[src] = s.labels[i]
	}
	for k := range numKinds {
		for b := range Buckets {
			st.Labelled += s.c.cells[k][b].L
		}
		for b := range Buckets {
			if f.admitted[k][b] {
				st.MinScore[KindNames[k]] = BucketFloor(b)
				break
			}
		}
	}
	return st
}

// wilson is the 95% Wilson interval of a proportion p over n.
func wilson(p, n float64) Interval {
	const z = 1.959964
	d := 1 + z*z/n
	c := (p + z*z/(2*n)) / d
	h := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n)) / d
	return Interval{Value: p, Low: max(0, c-h), High: min(1, c+h), N: n}
}
