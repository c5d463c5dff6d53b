package engine

import (
	"net/http"
	"testing"
	"time"
)

// TestSetPolicy: tenants and the TTL cap change for calls that begin
// after SetPolicy; a call begun before keeps the policy it began with.
func TestSetPolicy(t *testing.T) {
	e, _ := testEngine(t)
	h := http.Header{"Authorization": {"Bearer k-2"}, "X-Semcache-Ttl": {"86400"}}
	before := e.Begin(FrontHTTP, http.MethodPost, chatPath, h)
	if before.ns == "tenant:acme" || before.ctl.TTL != 24*time.Hour {
		t.Fatalf("before: namespace %q, TTL %v", before.ns, before.ctl.TTL)
	}
	nsr, err := NewNamespacer([]Tenant{{Name: "acme", Keys: []string{"k-1", "k-2"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetPolicy(Policy{MaxTTL: -time.Second}); err == nil {
		t.Fatal("a negative MaxTTL was accepted")
	}
	if err := e.SetPolicy(Policy{Namespaces: nsr, MaxTTL: time.Hour, Prices: map[string]Price{"m": {PromptPerMillion: 1}}}); err != nil {
		t.Fatal(err)
	}
	after := e.Begin(FrontHTTP, http.MethodPost, chatPath, h)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"new call's namespace", after.ns, "tenant:acme"},
		{"new call's TTL cap", after.ctl.TTL, time.Hour},
		{"Namespace()", e.Namespace(h), "tenant:acme"},
		{"old call keeps its policy", before.pol.maxTTL, DefaultMaxTTL},
		{"prices", (*e.metrics.prices.Load())["m"].PromptPerMillion, 1.0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	before.End()
	after.End()
}
