package engine

import (
	"slices"
	"sync"

	"github.com/semcache/semcache/cache"
)

// Label values known before any traffic. Every labelled counter and
// histogram is created at 0 for them, so an alert on a rate or a ratio
// sees 0 instead of "no data" (and a first error is an increase, which
// rate() sees).
var (
	lookupSteps      = []string{"exact", "embed", "search"}
	similarityKinds  = []string{"served", "rejected", "shadow"}
	degradedCauses   = []string{"embedder", "store"}
	upstreamErrKinds = []string{"unreachable", "broken_stream"}
	skipReasons      = []string{"not_cacheable", "no_store", "upstream_no_store", "rule_no_store", "error_status"}
	semanticSkips    = []string{cache.SkipTooLong}
	refusedReasons   = []string{RefusedUnauthorized, RefusedBadPath, RefusedNotAllowed, RefusedOverloaded}
	ragOutcomes      = []string{"injected", "empty", "error"}
	savedKinds       = []string{"prompt", "completion"}
	hitTiers         = []string{"exact", "semantic"}
	missOutcomes     = []string{OutcomeMiss, OutcomeHitPartial, OutcomeError}
	itemOutcomes     = []string{"hit", "miss"}
)

// zeroSeries remembers the fronts and cached routes in use, so a
// namespace seen later gets the series of each.
type zeroSeries struct {
	mu     sync.Mutex
	fronts []string
	routes []string
	ns     []string // namespace labels initialised, _other included
	// reasons are the verifier's rejection reasons (PreRegisterReasons)
	reasons []string
}

// initSeries creates the series whose label values are all known at
// start: the unlabelled-by-traffic vectors, and the bounded "_other"
// namespace.
func (m *Metrics) initSeries() {
	for _, r := range skipReasons {
		m.WriteBackSkipped.WithLabelValues(r)
	}
	for _, r := range refusedReasons {
		m.Refused.WithLabelValues(r)
	}
	for _, o := range ragOutcomes {
		m.RAGRetrievals.WithLabelValues(o)
	}
	m.initNamespace(OtherLabel)
}

// InitFront creates the request series of a front (http, extproc,
// extauthz) at 0, for every cached route and namespace known: the
// service calls it for each front it starts.
func (m *Metrics) InitFront(front string) {
	m.zero.mu.Lock()
	if slices.Contains(m.zero.fronts, front) {
		m.zero.mu.Unlock()
		return
	}
	m.zero.fronts = append(m.zero.fronts, front)
	routes, nss := slices.Clone(m.zero.routes), slices.Clone(m.zero.ns)
	m.zero.mu.Unlock()
	for _, r := range routes {
		for _, ns := range nss {
			m.initRequests([]string{front}, r, ns)
		}
	}
}

// initRoutes creates the series of the cached APIs (the engine's
// endpoints).
func (m *Metrics) initRoutes(names []string) {
	var added []string
	m.zero.mu.Lock()
	for _, n := range names {
		if !slices.Contains(m.zero.routes, n) {
			m.zero.routes = append(m.zero.routes, n)
			added = append(added, n)
		}
	}
	fronts, nss := slices.Clone(m.zero.fronts), slices.Clone(m.zero.ns)
	m.zero.mu.Unlock()
	for _, r := range added {
		route := m.route(r)
		for _, o := range itemOutcomes {
			m.Items.WithLabelValues(route, o)
		}
		m.PassDuration.WithLabelValues(route)
		for _, ns := range nss {
			m.initRequests(fronts, route, ns)
		}
	}
}

// initNamespace creates the series of a namespace label, when it is
// first seen (and "_other" at start).
func (m *Metrics) initNamespace(ns string) {
	m.zero.mu.Lock()
	if slices.Contains(m.zero.ns, ns) {
		m.zero.mu.Unlock()
		return
	}
	m.zero.ns = append(m.zero.ns, ns)
	fronts, routes, reasons := slices.Clone(m.zero.fronts), slices.Clone(m.zero.routes), slices.Clone(m.zero.reasons)
	m.zero.mu.Unlock()
	for _, s := range lookupSteps {
		m.LookupDuration.WithLabelValues(ns, s)
	}
	for _, k := range similarityKinds {
		m.Similarity.WithLabelValues(ns, k)
	}
	for _, r := range reasons {
		m.VerifierRejects.WithLabelValues(ns, r)
	}
	for _, c := range degradedCauses {
		m.DegradedLookups.WithLabelValues(ns, c)
	}
	for _, r := range semanticSkips {
		m.SemanticSkipped.WithLabelValues(ns, r)
	}
	m.UpstreamDuration.WithLabelValues(ns)
	m.UpstreamFirstToken.WithLabelValues(ns)
	m.UpstreamFirstByte.WithLabelValues(ns)
	m.InterToken.WithLabelValues(ns)
	for _, t := range hitTiers {
		m.HitDuration.WithLabelValues(ns, t)
	}
	for _, o := range missOutcomes {
		m.MissDuration.WithLabelValues(ns, o)
	}
	for _, k := range savedKinds {
		m.TokensSaved.WithLabelValues(ns, k)
	}
	m.CostSaved.WithLabelValues(ns)
	m.ShadowHits.WithLabelValues(ns)
	m.Coalesced.WithLabelValues(ns)
	for _, k := range upstreamErrKinds {
		m.UpstreamErrors.WithLabelValues(ns, k)
	}
	for _, c := range statusClasses {
		m.UpstreamResponses.WithLabelValues(ns, c)
	}
	for _, r := range routes {
		m.initRequests(fronts, m.route(r), ns)
	}
}

func (m *Metrics) initRequests(fronts []string, route, ns string) {
	for _, f := range fronts {
		for _, o := range Outcomes {
			m.Requests.WithLabelValues(f, route, ns, o)
		}
	}
}
