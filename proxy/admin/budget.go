package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/semcache/semcache/cache/budget"
	"github.com/semcache/semcache/engine"
)

// Budgets is what the admin API needs of error budgets (the engine).
type Budgets interface {
	Feedback(ctx context.Context, f engine.Feedback) error
	Budget() *budget.Learner
}

// FeedbackRequest is the body of POST /admin/api/feedback.
type FeedbackRequest struct {
	Namespace string `json:"namespace"`
	// Entry (X-Semcache-Entry) or RequestID (X-Request-Id) names the
	// served hit.
	Entry     string `json:"entry"`
	RequestID string `json:"request_id"`
	// Verdict is "right" or "wrong".
	Verdict string `json:"verdict"`
}

func (a *Admin) handleFeedback(w http.ResponseWriter, r *http.Request) error {
	if a.budgets == nil {
		return apiError(http.StatusNotImplemented, "no_error_budget", "no error budget is configured")
	}
	var req FeedbackRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return apiError(http.StatusBadRequest, "invalid_json", "feedback body: "+err.Error())
	}
	var bad []string
	if req.Namespace == "" {
		bad = append(bad, "namespace is required")
	}
	if req.Entry == "" && req.RequestID == "" {
		bad = append(bad, "entry or request_id is required")
	}
	if req.Verdict != "right" && req.Verdict != "wrong" {
		bad = append(bad, `verdict must be "right" or "wrong"`)
	}
	if len(bad) > 0 {
		return apiError(http.StatusBadRequest, "invalid_argument", "feedback: "+strings.Join(bad, "; "))
	}
	err := a.budgets.Feedback(r.Context(), engine.Feedback{Namespace: req.Namespace, EntryID: req.Entry, RequestID: req.RequestID, Wrong: req.Verdict == "wrong"})
	switch {
	case errors.Is(err, engine.ErrUnknownHit):
		return apiError(http.StatusNotFound, "not_found", "no recent semantic hit of namespace "+req.Namespace+" matches")
	case errors.Is(err, engine.ErrNoBudget):
		return apiError(http.StatusBadRequest, "no_error_budget", "namespace "+req.Namespace+" has no error budget")
	case err != nil:
		return err
	}
	a.logger(r).Info("admin: feedback applied", "namespace", req.Namespace, "entry", req.Entry, "request_id", req.RequestID, "verdict", req.Verdict)
	writeJSON(w, http.StatusOK, map[string]string{"namespace": req.Namespace, "verdict": req.Verdict})
	return nil
}

// BudgetView is one namespace's error budget, as GET /admin/api/budgets and
// the dashboard show it.
type BudgetView struct {
	Namespace string  `json:"namespace"`
	Budget    float64 `json:"budget"`
	// Allowance: -1 while nothing is served.
	Allowance float64 `json:"allowance"`
	Estimated float64 `json:"estimated_wrong_rate"`
	// Measured by the explorations, with its 95% interval.
	Measured     float64            `json:"measured_wrong_rate"`
	MeasuredLow  float64            `json:"measured_low"`
	MeasuredHigh float64            `json:"measured_high"`
	Served       uint64             `json:"served"`
	Explored     uint64             `json:"explored"`
	Missed       uint64             `json:"missed"`
	Labels       map[string]uint64  `json:"labels"`
	MinScore     map[string]float32 `json:"min_score"`
	// Bound is the upper confidence bound of the wrong-hit rate of what
	// is admitted now; Braked is set while the explorations measure more
	// wrong hits than the budget allows and nothing is served.
	Bound  float64 `json:"bound"`
	Braked bool    `json:"braked"`
}

func (a *Admin) handleBudgets(w http.ResponseWriter, r *http.Request) error {
	out := []BudgetView{}
	if a.budgets != nil && a.budgets.Budget() != nil {
		for _, s := range a.budgets.Budget().Snapshot() {
			v := BudgetView{Namespace: s.Namespace, Budget: s.Budget, Allowance: s.Allowance, Estimated: s.Estimated,
				Measured: s.Measured.Value, MeasuredLow: s.Measured.Low, MeasuredHigh: s.Measured.High,
				Served: s.Served, Explored: s.Explored, Missed: s.Missed, Labels: map[string]uint64{}, MinScore: s.MinScore,
				Bound: s.Bound, Braked: s.Braked}
			for src, n := range s.Labels {
				v.Labels[string(src)+"_right"] = n[0]
				v.Labels[string(src)+"_wrong"] = n[1]
			}
			out = append(out, v)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"budgets": out})
	return nil
}
