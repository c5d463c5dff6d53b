package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds headless Chromium (Debian's chromium package) or
// skips the test; in CI (env CI set) a missing browser fails it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("SEMCACHE_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is missing in CI; apt-get install -y chromium")
	}
	t.Skip("chromium not installed (apt-get install -y chromium)")
	return ""
}

// headlessChrome is the allocator options of the dashboard's browser
// tests: headless Chromium at chrome with a fresh profile in dir and a
// window of width×height.
func headlessChrome(chrome, dir string, width, height int) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(width, height),
	}
}

// artifactPath is where test artifacts go: $SEMCACHE_ARTIFACTS or the
// repository's gitignored artifacts/ directory.
func artifactPath(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("SEMCACHE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// pageState is what the dashboard shows, read from its data attributes.
type pageState struct {
	HitRate       string   `json:"hitRate"`
	HitRateText   string   `json:"hitRateText"`
	Requests      string   `json:"requests"`
	Tokens        string   `json:"tokens"`
	Cost          string   `json:"cost"`
	CostText      string   `json:"costText"`
	ChartMax      string   `json:"chartMax"`
	ChartPoints   string   `json:"chartPoints"`
	SavingsMax    string   `json:"savingsMax"`
	Served        string   `json:"served"`
	LatencyRows   string   `json:"latencyRows"`
	TopEntries    []string `json:"topEntries"`
	MissRows      int      `json:"missRows"`
	NamespaceRows int      `json:"namespaceRows"`
	RouteRows     []string `json:"routeRows"`
	Status        string   `json:"status"`
	PanelsSince   string   `json:"panelsSince"`
}

const readPage = `(() => {
  const q = (id) => document.querySelector('[data-testid="' + id + '"]');
  return {
    hitRate: q("hit-rate").dataset.value,
    hitRateText: q("hit-rate").textContent,
    requests: q("requests").dataset.value,
    tokens: q("tokens-saved").dataset.value,
    cost: q("cost-saved").dataset.value,
    costText: q("cost-saved").textContent,
    chartMax: q("chart-hit-rate").dataset.max,
    chartPoints: q("chart-hit-rate").dataset.points,
    savingsMax: q("chart-savings").dataset.max,
    served: q("chart-similarity").dataset.served,
    latencyRows: q("chart-latency").dataset.rows,
    topEntries: [...document.querySelectorAll("#top-entries tr[data-entry]")].map((r) => r.dataset.entry),
    missRows: document.querySelectorAll("#recent-misses tr:not(:has(td.empty))").length,
    namespaceRows: document.querySelectorAll("#namespaces tr[data-namespace]").length,
    routeRows: [...document.querySelectorAll("#routes tr[data-route]")].map((r) => r.dataset.route),
    status: q("status").textContent,
    panelsSince: q("panels-since").textContent,
  };
})()`

func num(t *testing.T, what, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%s: %q is not a number", what, s)
	}
	return v
}

// TestDashboardInBrowser loads /dashboard in headless Chromium after
// scripted traffic, checks that it shows the hit rate and savings, and
// saves a screenshot as a test artifact.
func TestDashboardInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	up, upURL := simUpstream(t)
	dir := t.TempDir()
	const token = "dash-token"
	s := start(t, upURL, dir, "--config", writeConfig(t, dir, priceConfig), "--admin-token", token)

	// Namespace a: miss, exact hit, semantic hit. Namespace b: a miss.
	first := chatAs(t, s.api, "sk-dash-a", userMsg("How do I reverse a list in Python?"))
	waitMetric(t, s.admin, "semcache_writeback_written_total 1")
	exact := chatAs(t, s.api, "sk-dash-a", userMsg("How do I reverse a list in Python?"))
	semantic := chatAs(t, s.api, "sk-dash-a", userMsg("how can i reverse a list in python"))
	other := chatAs(t, s.api, "sk-dash-b", userMsg("Explain how TLS certificates are verified"))
	if first.cache != "miss" || exact.cache != "hit-exact" || semantic.cache != "hit-semantic" || other.cache != "miss" || up.ChatCalls() != 2 {
		t.Fatalf("traffic: %s %s %s %s, upstream calls %d", first.cache, exact.cache, semantic.cache, other.cache, up.ChatCalls())
	}
	pt, ct := float64(first.usage.PromptTokens), float64(first.usage.CompletionTokens)
	perHit := pt*2.5/1e6 + ct*10/1e6
	var wantCost float64
	wantCost += perHit
	wantCost += perHit

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, headlessChrome(chrome, t.TempDir(), 1400, 1000)...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	var mu sync.Mutex
	var jsErrors []string
	err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			jsErrors = append(jsErrors, fmt.Sprintf("%s (line %d)", e.ExceptionDetails.Text, e.ExceptionDetails.LineNumber))
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	// A token may come in the fragment (the page moves it to
	// sessionStorage and sends it as a bearer token): a wrong one brings
	// up the login form, where the right one is typed.
	if err := chromedp.Do(bctx, chromedp.Navigate(s.admin+"/dashboard/#token=wrong")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	loginShown := `!document.getElementById("login").hidden && document.getElementById("main").hidden && location.hash === ""`
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](loginShown, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("a wrong token did not bring up the login form: %v", err)
	}
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#login button"))); err != nil {
		t.Fatalf("log in: %v", err)
	}
	ready := `(() => {
	  const v = (id, k) => Number((document.querySelector('[data-testid="' + id + '"]') || {dataset: {}}).dataset[k || "value"] || 0);
	  return v("hit-rate") > 0 && v("cost-saved") > 0 && v("tokens-saved") > 0 && v("chart-hit-rate", "max") > 0 &&
	    v("chart-savings", "max") > 0 && document.querySelectorAll("#top-entries tr[data-entry]").length > 0;
	})()`
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](ready, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		state, _ := chromedp.Run(bctx, chromedp.Evaluate[pageState](readPage))
		t.Fatalf("dashboard never showed hits and savings: %v\npage: %+v\n%s", err, state, s.stderr.String())
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := artifactPath(t, "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	st, err := chromedp.Run(bctx, chromedp.Evaluate[pageState](readPage))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want float64
	}{
		{"hit rate (2 hits of 4 lookups)", num(t, "hit rate", st.HitRate), 0.5},
		{"requests", num(t, "requests", st.Requests), 4},
		{"tokens saved", num(t, "tokens", st.Tokens), 2 * (pt + ct)},
		{"USD saved", num(t, "cost", st.Cost), wantCost},
		{"served semantic hits in the similarity chart", num(t, "served", st.Served), 1},
		{"latency rows (exact, semantic, miss, the miss's first byte)", num(t, "latency rows", st.LatencyRows), 4},
		{"recent misses", float64(st.MissRows), 2},
		{"namespaces", float64(st.NamespaceRows), 2},
		{"top entries", float64(len(st.TopEntries)), 1},
		{"APIs (chat only)", float64(len(st.RouteRows)), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if st.HitRateText != "50.0%" || !strings.HasPrefix(st.CostText, "$") {
		t.Errorf("tile texts: hit rate %q, cost %q", st.HitRateText, st.CostText)
	}
	if num(t, "chart max", st.ChartMax) <= 0 || num(t, "chart points", st.ChartPoints) < 1 {
		t.Errorf("hit-rate chart is empty: max %s, points %s", st.ChartMax, st.ChartPoints)
	}
	if len(st.TopEntries) == 1 && st.TopEntries[0] != exact.entry {
		t.Errorf("top entry %q, want the hit entry %q", st.TopEntries[0], exact.entry)
	}
	// The process is younger than the range: the latency and similarity
	// panels are since start, and say so.
	if st.PanelsSince != "since start" {
		t.Errorf("panels since %q, want since start", st.PanelsSince)
	}
	if !strings.HasPrefix(st.Status, "live") {
		t.Errorf("status %q", st.Status)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(jsErrors) > 0 {
		t.Errorf("JavaScript errors on the page: %v", jsErrors)
	}
}
