package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/semcache/semcache/cache/budget"
	"github.com/semcache/semcache/engine"
)

// fakeBudgets records feedback and answers with err.
type fakeBudgets struct {
	got []engine.Feedback
	err error
	l   *budget.Learner
}

func (f *fakeBudgets) Feedback(_ context.Context, fb engine.Feedback) error {
	f.got = append(f.got, fb)
	return f.err
}

func (f *fakeBudgets) Budget() *budget.Learner { return f.l }

// memStore is a budget.Store in memory.
type memStore struct{ nss map[string][]byte }

func (m *memStore) LoadEntry(string) ([]byte, error)            { return nil, nil }
func (m *memStore) SaveEntry(string, []byte) error              { return nil }
func (m *memStore) LoadNamespaces() (map[string][]byte, error)  { return m.nss, nil }
func (m *memStore) SaveNamespace(ns string, state []byte) error { m.nss[ns] = state; return nil }

func TestFeedbackAPI(t *testing.T) {
	s := newStack(t, t.TempDir(), "tok")
	l, err := budget.New(budget.Options{Budgets: map[string]float64{"acme": 0.02}, Store: &memStore{nss: map[string][]byte{}}})
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBudgets{l: l}
	tests := []struct {
		name   string
		budget Budgets
		err    error
		body   string
		status int
		want   *engine.Feedback
	}{
		{"applied by entry", fb, nil, `{"namespace":"acme","entry":"e1","verdict":"wrong"}`, http.StatusOK,
			&engine.Feedback{Namespace: "acme", EntryID: "e1", Wrong: true}},
		{"applied by request id", fb, nil, `{"namespace":"acme","request_id":"r1","verdict":"right"}`, http.StatusOK,
			&engine.Feedback{Namespace: "acme", RequestID: "r1"}},
		{"unknown hit", fb, engine.ErrUnknownHit, `{"namespace":"acme","entry":"e2","verdict":"wrong"}`, http.StatusNotFound, nil},
		{"no budget in the namespace", fb, engine.ErrNoBudget, `{"namespace":"other","entry":"e2","verdict":"wrong"}`, http.StatusBadRequest, nil},
		{"bad verdict", fb, nil, `{"namespace":"acme","entry":"e1","verdict":"meh"}`, http.StatusBadRequest, nil},
		{"no hit named", fb, nil, `{"namespace":"acme","verdict":"wrong"}`, http.StatusBadRequest, nil},
		{"unknown field", fb, nil, `{"namespace":"acme","entry":"e1","verdict":"wrong","x":1}`, http.StatusBadRequest, nil},
		{"not JSON", fb, nil, `{`, http.StatusBadRequest, nil},
		{"no error budget configured", nil, nil, `{"namespace":"acme","entry":"e1","verdict":"wrong"}`, http.StatusNotImplemented, nil},
	}
	for _, tt := range tests {
		fb.got, fb.err = nil, tt.err
		s.admin.budgets = tt.budget
		code, _, body := s.do(t, http.MethodPost, "/admin/api/feedback", "tok", tt.body)
		if code != tt.status {
			t.Errorf("%s: status %d (%s), want %d", tt.name, code, body, tt.status)
		}
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		if code >= 400 && (json.Unmarshal([]byte(body), &e) != nil || e.Error.Message == "") {
			t.Errorf("%s: not an OpenAI-style error: %s", tt.name, body)
		}
		if tt.want != nil && (len(fb.got) != 1 || fb.got[0] != *tt.want) {
			t.Errorf("%s: engine got %+v, want %+v", tt.name, fb.got, *tt.want)
		}
	}
	if code, _, _ := s.do(t, http.MethodPost, "/admin/api/feedback", "", `{}`); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", code)
	}

	s.admin.budgets = fb
	code, _, body := s.do(t, http.MethodGet, "/admin/api/budgets", "tok", "")
	var out struct {
		Budgets []BudgetView `json:"budgets"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil || len(out.Budgets) != 1 {
		t.Fatalf("budgets: %d %s", code, body)
	}
	if b := out.Budgets[0]; b.Namespace != "acme" || b.Budget != 0.02 || b.Allowance != -1 || b.Braked {
		t.Errorf("budget view %+v", b)
	}
}
