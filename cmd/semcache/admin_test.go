package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// chatReply is a parsed non-stream chat completion with semcache's headers.
type chatReply struct {
	status  int
	cache   string
	entry   string
	content string
	usage   struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	}
}

func chatAs(t *testing.T, api, key, body string) chatReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, api+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var c struct {
		Choices []struct{ Message struct{ Content string } }
		Usage   json.RawMessage
	}
	if err := json.Unmarshal(b, &c); err != nil || len(c.Choices) != 1 {
		t.Fatalf("chat reply %d: %s", resp.StatusCode, b)
	}
	r := chatReply{status: resp.StatusCode, cache: resp.Header.Get("X-Semcache"), entry: resp.Header.Get("X-Semcache-Entry"),
		content: c.Choices[0].Message.Content}
	_ = json.Unmarshal(c.Usage, &r.usage)
	return r
}

// namespaceOf is the namespace semcache derives from a bearer token.
func namespaceOf(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "key:" + hex.EncodeToString(sum[:])[:32]
}

func scrape(t *testing.T, admin string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// sample returns the value of the series of family name whose labels
// include want: a counter or gauge value, or a histogram's sample count.
// A missing series is 0.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var v float64
	for _, m := range mfs[name].GetMetric() {
		match := true
		for k, val := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == val {
					found = true
				}
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		case m.Histogram != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			v += m.GetUntyped().GetValue()
		}
	}
	return v
}

func writeConfig(t *testing.T, dir, yaml string) string {
	t.Helper()
	file := filepath.Join(dir, "semcache.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

const priceConfig = "prices:\n  sim-gpt: {prompt_per_million: 2.5, completion_per_million: 10}\n"

// TestMetricsAfterMissHitSemanticHit scripts a miss, an exact hit and a
// semantic hit and checks the scraped counters and savings exactly.
func TestMetricsAfterMissHitSemanticHit(t *testing.T) {
	up, upURL := simUpstream(t)
	dir := t.TempDir()
	s := start(t, upURL, dir, "--config", writeConfig(t, dir, priceConfig))
	const key = "sk-metrics"
	ns := namespaceOf(key)

	miss := chatAs(t, s.api, key, userMsg("How do I reverse a list in Python?"))
	if miss.cache != "miss" || miss.usage.PromptTokens == 0 || miss.usage.CompletionTokens == 0 {
		t.Fatalf("first request: %+v", miss)
	}
	waitMetric(t, s.admin, "semcache_writeback_written_total 1")
	if r := chatAs(t, s.api, key, userMsg("How do I reverse a list in Python?")); r.cache != "hit-exact" || r.content != miss.content {
		t.Fatalf("second request: %+v", r)
	}
	if r := chatAs(t, s.api, key, userMsg("how can i reverse a list in python")); r.cache != "hit-semantic" || r.content != miss.content {
		t.Fatalf("paraphrase: %+v", r)
	}
	if up.ChatCalls() != 1 {
		t.Fatalf("upstream calls = %d, want 1", up.ChatCalls())
	}

	// Both hits replay the first answer, so each saves its usage.
	pt, ct := float64(miss.usage.PromptTokens), float64(miss.usage.CompletionTokens)
	perHit := pt*2.5/1e6 + ct*10/1e6
	var cost float64
	cost += perHit
	cost += perHit

	mfs := scrape(t, s.admin)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"semcache_requests_total", map[string]string{"route": "chat", "namespace": ns, "outcome": "miss"}, 1},
		{"semcache_requests_total", map[string]string{"route": "chat", "namespace": ns, "outcome": "hit_exact"}, 1},
		{"semcache_requests_total", map[string]string{"route": "chat", "namespace": ns, "outcome": "hit_semantic"}, 1},
		{"semcache_requests_total", map[string]string{"outcome": "bypass"}, 0},
		{"semcache_requests_total", map[string]string{"outcome": "error"}, 0},
		{"semcache_saved_tokens_total", map[string]string{"namespace": ns, "kind": "prompt"}, 2 * pt},
		{"semcache_saved_tokens_total", map[string]string{"namespace": ns, "kind": "completion"}, 2 * ct},
		{"semcache_saved_cost_usd_total", map[string]string{"namespace": ns}, cost},
		{"semcache_similarity_score", map[string]string{"kind": "served"}, 1},
		{"semcache_similarity_score", map[string]string{"kind": "rejected"}, 0},
		{"semcache_similarity_score", map[string]string{"kind": "shadow"}, 0},
		{"semcache_verifier_rejections_total", nil, 0},
		{"semcache_miss_duration_seconds", map[string]string{"namespace": ns, "outcome": "miss"}, 1},
		{"semcache_hit_duration_seconds", map[string]string{"namespace": ns, "tier": "exact"}, 1},
		{"semcache_hit_duration_seconds", map[string]string{"namespace": ns, "tier": "semantic"}, 1},
		{"semcache_upstream_first_byte_seconds", map[string]string{"namespace": ns}, 1},
		{"semcache_upstream_first_token_seconds", nil, 0},
		{"semcache_upstream_responses_total", map[string]string{"namespace": ns, "class": "2xx"}, 1},
		{"semcache_lookup_duration_seconds", map[string]string{"step": "exact"}, 3},
		{"semcache_lookup_duration_seconds", map[string]string{"step": "search"}, 2},
		{"semcache_upstream_duration_seconds", nil, 1},
		{"semcache_writeback_queued_total", nil, 1},
		{"semcache_writeback_skipped_total", nil, 0},
		{"semcache_writeback_written_total", nil, 1},
		{"semcache_coalesced_requests_total", nil, 0},
		{"semcache_upstream_errors_total", nil, 0},
		{"semcache_shadow_hits_total", nil, 0},
		{"semcache_degraded_lookups_total", nil, 0},
		{"semcache_cache_entries", map[string]string{"tier": "disk"}, 1},
	}
	for _, tt := range tests {
		if got := sample(mfs, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}

// adminCall sends one admin API request and returns the status and body.
func adminCall(t *testing.T, method, u, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAdminWarmHitDeleteMiss(t *testing.T) {
	up, upURL := simUpstream(t)
	const token, key = "admin-secret", "sk-warm"
	s := start(t, upURL, t.TempDir(), "--admin-token", token)
	ns := namespaceOf(key)
	base := s.admin + "/admin/api/namespaces/" + url.PathEscape(ns)
	question := userMsg("What is the warmest month in Lisbon?")
	warm := `{"request": ` + question + `, "response": {"content": "August, usually.", "usage": {"prompt_tokens": 14, "completion_tokens": 3, "total_tokens": 17}}}` + "\n"

	auth := []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "admin-secreT", http.StatusUnauthorized},
		{"right token", token, http.StatusOK},
	}
	for _, tt := range auth {
		if status, body := adminCall(t, http.MethodPost, base+"/warm", tt.token, warm); status != tt.want {
			t.Fatalf("warm with %s: %d %s", tt.name, status, body)
		}
	}
	if a := ask(t, s.api, key, question); a.cache != "hit-exact" || a.content != "August, usually." {
		t.Fatalf("warmed request: %+v", a)
	}
	if a := ask(t, s.api, key, userMsg("what is the warmest month in lisbon")); a.cache != "hit-semantic" || a.content != "August, usually." {
		t.Fatalf("paraphrase of a warmed request: %+v", a)
	}
	if up.ChatCalls() != 0 {
		t.Fatalf("upstream called %d times for warmed requests", up.ChatCalls())
	}

	var list struct {
		Count   int `json:"count"`
		Entries []struct {
			ID     string `json:"id"`
			Prompt string `json:"prompt"`
		} `json:"entries"`
	}
	status, body := adminCall(t, http.MethodGet, base+"/entries?q=LISBON", token, "")
	if err := json.Unmarshal(body, &list); status != 200 || err != nil || list.Count != 1 || list.Entries[0].Prompt != "What is the warmest month in Lisbon?" {
		t.Fatalf("search: %d %s", status, body)
	}
	status, body = adminCall(t, http.MethodGet, base+"/export", token, "")
	if lines := strings.Count(string(body), "\n"); status != 200 || lines != 1 || !strings.Contains(string(body), "August, usually.") {
		t.Fatalf("export: %d %s", status, body)
	}
	var stats struct {
		Namespaces []struct {
			Namespace string `json:"namespace"`
			Entries   int    `json:"entries"`
		} `json:"namespaces"`
		Totals struct {
			HitsExact    float64 `json:"hits_exact"`
			HitsSemantic float64 `json:"hits_semantic"`
		} `json:"totals"`
	}
	status, body = adminCall(t, http.MethodGet, s.admin+"/admin/api/stats", token, "")
	if err := json.Unmarshal(body, &stats); status != 200 || err != nil || len(stats.Namespaces) != 1 ||
		stats.Namespaces[0].Namespace != ns || stats.Namespaces[0].Entries != 1 || stats.Totals.HitsExact != 1 || stats.Totals.HitsSemantic != 1 {
		t.Fatalf("stats: %d %s", status, body)
	}

	status, body = adminCall(t, http.MethodDelete, base, token, "")
	if status != 200 || !strings.Contains(string(body), `"deleted":1`) {
		t.Fatalf("delete namespace: %d %s", status, body)
	}
	if a := ask(t, s.api, key, question); a.cache != "miss" {
		t.Fatalf("after deleting the namespace: %+v", a)
	}
	if up.ChatCalls() != 1 {
		t.Fatalf("upstream calls = %d, want 1", up.ChatCalls())
	}
}

func TestAdminRoutesAndErrors(t *testing.T) {
	_, upURL := simUpstream(t)
	const token = "adm"
	s := start(t, upURL, t.TempDir(), "--admin-token", token)
	ns := url.PathEscape(namespaceOf("k"))
	ask(t, s.api, "k", userMsg("one question"))
	tests := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"dashboard page needs no token", "GET", "/dashboard/", "", 200, `data-testid="hit-rate"`},
		{"dashboard script", "GET", "/dashboard/app.js", "", 200, "/admin/api/dashboard"},
		{"dashboard data", "GET", "/admin/api/dashboard", "", 200, `"misses":1`},
		{"bad limit", "GET", "/admin/api/namespaces/" + ns + "/entries?limit=x", "", 400, "limit"},
		{"bad warm", "POST", "/admin/api/namespaces/" + ns + "/warm", "{not json}\n", 400, "line 1"},
		{"older_than required", "DELETE", "/admin/api/namespaces/" + ns + "/entries", "", 400, "older_than"},
		{"older_than duration", "DELETE", "/admin/api/namespaces/" + ns + "/entries?older_than=1h", "", 200, `"deleted":0`},
		{"unknown entry", "DELETE", "/admin/api/namespaces/" + ns + "/entries/00112233445566778899aabb", "", 404, "not found"},
		{"unknown route", "GET", "/admin/api/nope", "", 404, "unknown admin route"},
		{"metrics stay public", "GET", "/metrics", "", 200, "semcache_requests_total"},
	}
	for _, tt := range tests {
		status, body := adminCall(t, tt.method, s.admin+tt.path, token, tt.body)
		if status != tt.status || !strings.Contains(string(body), tt.contains) {
			t.Errorf("%s: %d %.300s; want %d containing %q", tt.name, status, body, tt.status, tt.contains)
		}
	}
	// The entry listed is the one X-Semcache-Entry named; delete it by id.
	var list struct {
		Entries []struct{ ID string } `json:"entries"`
	}
	_, body := adminCall(t, "GET", s.admin+"/admin/api/namespaces/"+ns+"/entries", token, "")
	if err := json.Unmarshal(body, &list); err != nil || len(list.Entries) != 1 {
		t.Fatalf("list: %s", body)
	}
	if status, body := adminCall(t, "DELETE", s.admin+"/admin/api/namespaces/"+ns+"/entries/"+list.Entries[0].ID, token, ""); status != 200 {
		t.Fatalf("delete entry: %d %s", status, body)
	}
	if a := ask(t, s.api, "k", userMsg("one question")); a.cache != "miss" {
		t.Fatalf("deleted entry still served: %+v", a)
	}
}
