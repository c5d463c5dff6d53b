package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/engine"
)

const grafanaFile = "../../deploy/grafana/semcache.json"

type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promToken    = regexp.MustCompile(`[0-9][0-9A-Za-z_.]*(?:[eE][+-][0-9]+)?|[A-Za-z_:][A-Za-z0-9_:]*`)
	labelValues  = regexp.MustCompile(`^label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{[^}]*\})?\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)$`)
	promKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "offset": true, "and": true, "or": true, "unless": true, "inf": true, "nan": true}
)

// promMetrics lists the metric names a PromQL expression selects: every
// identifier that is not a function, aggregation, keyword, label or
// number.
func promMetrics(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promToken.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' || promKeywords[strings.ToLower(tok)] {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function or an aggregation
		}
		out = append(out, tok)
	}
	return out
}

func TestPromMetrics(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum by (namespace) (rate(semcache_requests_total{namespace=~"$namespace",outcome="miss"}[$__rate_interval]))`, []string{"semcache_requests_total"}},
		{`histogram_quantile(0.95, sum by (le, outcome) (rate(a_bucket[5m]))) / on (x) b * 3600 + 1e6`, []string{"a_bucket", "b"}},
		{`up`, []string{"up"}},
		{`sum(rate(x[1m] offset 5m)) or vector(0)`, []string{"x"}},
		{`rate(semcache_requests_totl[5m]) > 1e-5`, []string{"semcache_requests_totl"}},
	}
	for _, tt := range tests {
		if got := promMetrics(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("promMetrics(%q) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}

// declared records the metric names a collector describes.
type declared map[string]bool

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d declared) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := descName.FindStringSubmatch(desc.String()); m != nil {
			d[m[1]] = true
		}
	}
	return nil
}

func (d declared) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (d declared) Unregister(prometheus.Collector) bool { return false }

// quietSeries are metrics with labels whose series only appear in setups
// this test does not run; they must still be declared by engine.NewMetrics.
var quietSeries = map[string]string{
	"semcache_rag_retrievals_total": "series appear only when RAG is configured",
}

// trafficForEverySeries drives a running semcache so that every metric
// family has a series: misses, exact, semantic and shadow hits, a verifier
// rejection, a stream and a broken upstream stream.
func trafficForEverySeries(t *testing.T, s *running) {
	t.Helper()
	if r := chatAs(t, s.api, "sk-a", userMsg("How do I reverse a list in Python?")); r.cache != "miss" {
		t.Fatalf("first: %+v", r)
	}
	if r := chatAs(t, s.api, "sk-shadow", userMsg("How do I reverse a list in Python?")); r.cache != "miss" {
		t.Fatalf("shadow tenant first: %+v", r)
	}
	waitMetric(t, s.admin, "semcache_writeback_written_total 2")
	for _, q := range []struct{ key, prompt, want string }{
		{"sk-a", "How do I reverse a list in Python?", "hit-exact"},
		{"sk-a", "how can i reverse a list in python", "hit-semantic"},
		{"sk-a", "How do I reverse a list of 3 items in Python?", "miss"}, // the verifier refuses the number
		{"sk-shadow", "how can i reverse a list in python", "miss"},       // a shadow hit
	} {
		if r := chatAs(t, s.api, q.key, userMsg(q.prompt)); r.cache != q.want {
			t.Fatalf("%s %q: %s, want %s", q.key, q.prompt, r.cache, q.want)
		}
	}
	for _, prompt := range []string{"Stream me an answer", "Stream and break " + upstream.MarkerCut} {
		body, _ := json.Marshal(map[string]any{"model": "sim-gpt", "stream": true,
			"messages": []map[string]string{{"role": "user", "content": prompt}}})
		req, _ := http.NewRequest(http.MethodPost, s.api+"/v1/chat/completions", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer sk-a")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // the broken one ends in an error
		resp.Body.Close()
	}
}

// TestGrafanaDashboardQueriesExist checks that deploy/grafana/semcache.json
// is a valid dashboard and that every metric its queries name is exposed by
// a real /metrics scrape.
func TestGrafanaDashboardQueriesExist(t *testing.T) {
	raw, err := os.ReadFile(grafanaFile)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", grafanaFile, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 || len(d.Panels) == 0 {
		t.Fatalf("dashboard header: uid %q title %q schemaVersion %d, %d panels", d.UID, d.Title, d.SchemaVersion, len(d.Panels))
	}

	// Real scrapes: one after traffic touching every series, one from a
	// service whose embedder is down (degraded lookups).
	_, upURL := simUpstream(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, priceConfig+"tenants:\n  - name: shadow\n    keys: [sk-shadow]\nshadow_namespaces: [\"tenant:shadow\"]\nerror_budgets: {\"tenant:budgeted\": 0.02}\n")
	s := start(t, upURL, dir, "--config", cfg)
	trafficForEverySeries(t, s)
	exposed := scrape(t, s.admin)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer broken.Close()
	s2 := start(t, upURL, t.TempDir(), "--embedder", "openai", "--embed-url", broken.URL+"/v1", "--embed-dim", "8")
	ask(t, s2.api, "k", userMsg("anything"))
	for name, mf := range scrape(t, s2.admin) {
		if exposed[name] == nil {
			exposed[name] = mf
		}
	}
	decl := declared{}
	engine.NewMetrics(decl, 10, nil).WatchCache(nil)

	check := func(where, expr string, names []string) {
		if len(names) == 0 {
			t.Errorf("%s: query names no metric: %s", where, expr)
		}
		for _, n := range names {
			if err := metricExposed(exposed, decl, n); err != "" {
				t.Errorf("%s: %s: %s\n  query: %s", where, n, err, expr)
			}
		}
	}
	ids := map[int]string{}
	queries := 0
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
			}
			ids[p.ID] = p.Title
			if p.GridPos.W < 1 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H < 1 {
				t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Title == "" || len(p.Targets) == 0 {
				t.Errorf("panel %d (%q, %s) has no title or no query", p.ID, p.Title, p.Type)
			}
			for _, tg := range p.Targets {
				queries++
				check("panel "+p.Title+" "+tg.RefID, tg.Expr, promMetrics(tg.Expr))
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: unexpected query %q", v.Name, v.Definition)
			continue
		}
		check("variable "+v.Name, v.Definition, []string{m[1]})
	}
	if queries < 20 {
		t.Errorf("only %d queries in the dashboard", queries)
	}
}

// metricExposed explains why name is not usable in a query ("" if it is).
func metricExposed(exposed map[string]*dto.MetricFamily, decl declared, name string) string {
	if mf := exposed[name]; mf != nil {
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			return "a histogram has no bare series; use _bucket, _sum or _count"
		}
		return ""
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if mf := exposed[base]; mf != nil {
			if mf.GetType() == dto.MetricType_HISTOGRAM || suffix != "_bucket" && mf.GetType() == dto.MetricType_SUMMARY {
				return ""
			}
			return "not a histogram"
		}
	}
	if _, quiet := quietSeries[name]; quiet && decl[name] {
		return ""
	}
	return "not exposed by /metrics"
}
