package engine

import (
	"github.com/prometheus/client_golang/prometheus"
)

// policyMetrics count the per-request and per-route policy: request
// headers ignored (a threshold that would lower the namespace's, a
// malformed value) and cache rules applied.
type policyMetrics struct {
	ignored *prometheus.CounterVec
	rules   *prometheus.CounterVec
}

// policy returns the policy metrics, registering them on first use.
func (m *Metrics) policy() *policyMetrics {
	m.policyReg.Do(func() {
		m.policyM = &policyMetrics{
			ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "semcache_policy_ignored_total",
				Help: "Request policy headers ignored, by header (threshold, cache_control) and reason (lower: X-Semcache-Threshold below the namespace's cut-off; invalid: malformed).",
			}, []string{"header", "reason"}),
			rules: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "semcache_rule_applied_total",
				Help: "Requests a cache rule applied to, by rule name and action (bypass, no_store, ttl).",
			}, []string{"rule", "action"}),
		}
		m.registry.MustRegister(m.policyM.ignored, m.policyM.rules)
		for _, l := range [][2]string{
			{ignoredHeaderThreshold, ignoredLower}, {ignoredHeaderThreshold, ignoredInvalid}, {ignoredHeaderCacheControl, ignoredInvalid},
		} {
			m.policyM.ignored.WithLabelValues(l[0], l[1])
		}
	})
	return m.policyM
}

func (m *Metrics) policyIgnored(header, reason string) {
	m.policy().ignored.WithLabelValues(header, reason).Inc()
}

// watchRules makes every configured rule visible at 0.
func (m *Metrics) watchRules(rs *Rules) {
	p := m.policy()
	if rs == nil {
		return
	}
	for _, r := range rs.rules {
		p.rules.WithLabelValues(r.name, r.action)
	}
}

func (m *Metrics) ruleApplied(r *rule) {
	m.policy().rules.WithLabelValues(r.name, r.action).Inc()
}

// PolicyIgnored is semcache_policy_ignored_total (header, reason).
func (m *Metrics) PolicyIgnored() *prometheus.CounterVec { return m.policy().ignored }

// RulesApplied is semcache_rule_applied_total (rule, action).
func (m *Metrics) RulesApplied() *prometheus.CounterVec { return m.policy().rules }
