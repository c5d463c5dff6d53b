package engine

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/budget"
)

// budgetMetrics are the error budgets' metrics.
type budgetMetrics struct {
	decisions, labels, feedback *prometheus.CounterVec
	exploreCalls                *prometheus.CounterVec
	exploreTokens, exploreCost  *prometheus.CounterVec
}

func newBudgetMetrics() *budgetMetrics {
	return &budgetMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_budget_decisions_total", Help: "Semantic candidates of namespaces with an error budget, by the learner's decision (serve, explore, miss).",
		}, []string{"namespace", "decision"}),
		labels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_budget_labels_total", Help: "Candidates labelled by comparing answers or by feedback, by source (miss, explore, shadow, feedback) and result (right, wrong, error).",
		}, []string{"namespace", "source", "result"}),
		feedback: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_budget_feedback_total", Help: "Feedback on served hits (POST /admin/api/feedback, X-Semcache-Feedback), by result (applied, unknown, malformed).",
		}, []string{"result"}),
		exploreCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_budget_exploration_calls_total", Help: "Extra upstream calls: would-be semantic hits sent upstream to check them.",
		}, []string{"namespace"}),
		exploreTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_budget_exploration_tokens_total", Help: "Tokens of the exploration calls (prompt, completion).",
		}, []string{"namespace", "kind"}),
		exploreCost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_budget_exploration_cost_usd_total", Help: "Estimated USD of the exploration calls, from the configured price table.",
		}, []string{"namespace"}),
	}
}

// WatchBudget registers the error budgets' metrics for learner l.
func (m *Metrics) WatchBudget(l *budget.Learner) {
	m.budgetReg.Do(func() {
		b := m.budget
		m.registry.MustRegister(b.decisions, b.labels, b.feedback, b.exploreCalls, b.exploreTokens, b.exploreCost,
			&budgetCollector{l: l, m: m})
		for _, r := range []string{"applied", "unknown", "malformed"} {
			b.feedback.WithLabelValues(r)
		}
		for _, ns := range l.Namespaces() {
			label := m.Namespace(ns)
			for _, a := range []budget.Action{budget.Serve, budget.Explore, budget.Miss} {
				b.decisions.WithLabelValues(label, a.String())
			}
			for _, src := range budget.Sources() {
				for _, r := range []string{"right", "wrong", "error"} {
					b.labels.WithLabelValues(label, string(src), r)
				}
			}
			b.exploreCalls.WithLabelValues(label)
			b.exploreCost.WithLabelValues(label)
			b.exploreTokens.WithLabelValues(label, "prompt")
			b.exploreTokens.WithLabelValues(label, "completion")
		}
	})
}

// recordExplore counts an exploration call and what it cost.
func (m *Metrics) recordExplore(ns, model string, a *cache.Answer) {
	label := m.Namespace(ns)
	m.budget.exploreCalls.WithLabelValues(label).Inc()
	u := a.Usage
	if u == nil {
		return
	}
	m.budget.exploreTokens.WithLabelValues(label, "prompt").Add(float64(u.PromptTokens))
	m.budget.exploreTokens.WithLabelValues(label, "completion").Add(float64(u.CompletionTokens))
	prices := *m.prices.Load()
	p, ok := prices[model]
	if !ok {
		p, ok = prices[a.Model]
	}
	if ok {
		m.budget.exploreCost.WithLabelValues(label).Add(float64(u.PromptTokens)*p.PromptPerMillion/1e6 + float64(u.CompletionTokens)*p.CompletionPerMillion/1e6)
	}
}

// budgetCollector exports the learner's per-namespace state at scrape.
type budgetCollector struct {
	l *budget.Learner
	m *Metrics
}

var (
	budgetDesc = prometheus.NewDesc("semcache_budget_error_budget",
		"The error budget: the largest share of served semantic hits that may be wrong.", []string{"namespace"}, nil)
	budgetEstimatedDesc = prometheus.NewDesc("semcache_budget_estimated_wrong_rate",
		"Mean estimated probability of being wrong of the semantic hits served.", []string{"namespace"}, nil)
	budgetMeasuredDesc = prometheus.NewDesc("semcache_budget_measured_wrong_rate",
		"Wrong-hit rate measured by the explorations (weighted by 1/probability), with its 95% interval (bound=value|low|high).", []string{"namespace", "bound"}, nil)
	budgetAllowanceDesc = prometheus.NewDesc("semcache_budget_risk_allowance",
		"Estimated error of the riskiest candidates served now (-1: nothing is served yet).", []string{"namespace"}, nil)
	budgetBoundDesc = prometheus.NewDesc("semcache_budget_wrong_rate_bound",
		"Upper confidence bound of the wrong-hit rate of what the learner admits now.", []string{"namespace"}, nil)
	budgetBrakedDesc = prometheus.NewDesc("semcache_budget_braked",
		"1 while the explorations' recent wrong-hit rate is above the budget and nothing is served.", []string{"namespace"}, nil)
)

func (b *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- budgetDesc
	ch <- budgetEstimatedDesc
	ch <- budgetMeasuredDesc
	ch <- budgetAllowanceDesc
	ch <- budgetBoundDesc
	ch <- budgetBrakedDesc
}

func (b *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[string]bool{}
	for _, s := range b.l.Snapshot() {
		ns := b.m.Namespace(s.Namespace)
		if seen[ns] {
			continue // folded into _other: the first one stands for them
		}
		seen[ns] = true
		ch <- prometheus.MustNewConstMetric(budgetDesc, prometheus.GaugeValue, s.Budget, ns)
		ch <- prometheus.MustNewConstMetric(budgetEstimatedDesc, prometheus.GaugeValue, s.Estimated, ns)
		ch <- prometheus.MustNewConstMetric(budgetMeasuredDesc, prometheus.GaugeValue, s.Measured.Value, ns, "value")
		ch <- prometheus.MustNewConstMetric(budgetMeasuredDesc, prometheus.GaugeValue, s.Measured.Low, ns, "low")
		ch <- prometheus.MustNewConstMetric(budgetMeasuredDesc, prometheus.GaugeValue, s.Measured.High, ns, "high")
		ch <- prometheus.MustNewConstMetric(budgetAllowanceDesc, prometheus.GaugeValue, s.Allowance, ns)
		ch <- prometheus.MustNewConstMetric(budgetBoundDesc, prometheus.GaugeValue, s.Bound, ns)
		braked := 0.0
		if s.Braked {
			braked = 1
		}
		ch <- prometheus.MustNewConstMetric(budgetBrakedDesc, prometheus.GaugeValue, braked, ns)
	}
}
