package engine

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Speculation results of an upstream call a front started before the
// lookup had decided (--speculative-upstream): used as the miss's upstream
// call, or cancelled (a hit arrived first, an identical call was already
// in flight, or the request sent upstream changed).
const (
	SpeculationUsed      = "used"
	SpeculationCancelled = "cancelled"
)

// speculationMetrics count speculative upstream calls; registered on the
// first use (EnableSpeculation registers them at start-up).
type speculationMetrics struct {
	once   sync.Once
	calls  *prometheus.CounterVec
	tokens prometheus.Counter
}

func (m *Metrics) speculation() *speculationMetrics {
	s := &m.spec
	s.once.Do(func() {
		s.calls = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_speculative_upstream_total",
			Help: "Upstream calls started before the lookup had decided (--speculative-upstream), by result: used (the miss's call) or cancelled (a hit arrived first, or the call was not needed). A cancelled call may still be billed for its prompt tokens.",
		}, []string{"result"})
		s.tokens = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "semcache_speculative_cancelled_prompt_tokens_total",
			Help: "Estimated prompt tokens of cancelled speculative upstream calls (request body bytes / 4): what they may have cost.",
		})
		s.calls.WithLabelValues(SpeculationUsed)
		s.calls.WithLabelValues(SpeculationCancelled)
		if m.registry != nil {
			m.registry.MustRegister(s.calls, s.tokens)
		}
	})
	return s
}

// EnableSpeculation makes the speculation metrics visible (at zero) before
// the first speculative call.
func (e *Engine) EnableSpeculation() { e.metrics.speculation() }

// EstimatePromptTokens is the token estimate of a request body that
// speculation metrics use: a quarter of its bytes, the usual rule of
// thumb for English text (an over-estimate, since JSON syntax counts).
func EstimatePromptTokens(body []byte) int { return (len(body) + 3) / 4 }

// Speculated records what became of a speculative upstream call for this
// request; body is the request body it sent.
func (c *Call) Speculated(result string, body []byte) {
	s := c.e.metrics.speculation()
	s.calls.WithLabelValues(result).Inc()
	if result == SpeculationCancelled {
		s.tokens.Add(float64(EstimatePromptTokens(body)))
		c.logger().Debug("speculative upstream call cancelled", "estimated_prompt_tokens", EstimatePromptTokens(body))
	}
}
