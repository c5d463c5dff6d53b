package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// textOverlaps lists the pairs of text boxes on the page that overlap:
// every non-blank HTML text node (its line boxes, clipped by ancestors
// that clip overflow) and every SVG <text> element.
const textOverlaps = `(() => {
  const clipRect = (node) => {
    let r = {l: -1e9, r: 1e9, t: -1e9, b: 1e9};
    for (let a = node; a && a !== document.documentElement; a = a.parentElement) {
      const cs = getComputedStyle(a);
      if (cs.overflowX !== "visible" || cs.overflowY !== "visible" || a.tagName.toLowerCase() === "svg") {
        const b = a.getBoundingClientRect();
        r = {l: Math.max(r.l, b.left), r: Math.min(r.r, b.right), t: Math.max(r.t, b.top), b: Math.min(r.b, b.bottom)};
      }
    }
    return r;
  };
  const clip = (b, c) => ({l: Math.max(b.left, c.l), r: Math.min(b.right, c.r), t: Math.max(b.top, c.t), b: Math.min(b.bottom, c.b)});
  const boxes = [];
  const add = (rect, text, owner) => {
    if (rect.r - rect.l > 0.5 && rect.b - rect.t > 0.5) boxes.push({...rect, text: text.trim().slice(0, 40), owner});
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!n.textContent.trim() || !p || p.closest("svg") || p.closest("select,option,script,style")) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const c = clipRect(p);
    for (const r of range.getClientRects()) add(clip(r, c), n.textContent, p);
  }
  for (const t of document.querySelectorAll("svg text")) {
    add(clip(t.getBoundingClientRect(), clipRect(t.parentElement)), t.textContent, t);
  }
  const out = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      // 1 px of tolerance: neighbouring line boxes may touch.
      const w = Math.min(a.r, b.r) - Math.max(a.l, b.l), h = Math.min(a.b, b.b) - Math.max(a.t, b.t);
      if (w > 1 && h > 1) out.push(JSON.stringify(a.text) + " overlaps " + JSON.stringify(b.text) + " (" + w.toFixed(1) + "x" + h.toFixed(1) + " px)");
    }
  }
  return {count: boxes.length, overlaps: out};
})()`

type overlapReport struct {
	Count    int      `json:"count"`
	Overlaps []string `json:"overlaps"`
}

// chartFacts are what the page says about its charts.
type chartFacts struct {
	Tos        []string `json:"tos"`
	Froms      []string `json:"froms"`
	FontPx     []float64
	CostNote   string `json:"costNote"`
	Savings    string `json:"savings"`
	Traffic    string `json:"traffic"`
	Errors     string `json:"errors"`
	HotTier    string `json:"hotTier"`
	Evictions  string `json:"evictions"`
	LatencyRow []string
}

const readCharts = `(() => {
  const charts = [...document.querySelectorAll("svg[data-to]")];
  const q = (id) => document.querySelector('[data-testid="' + id + '"]');
  return {
    tos: charts.map((c) => c.dataset.to),
    froms: charts.map((c) => c.dataset.from),
    FontPx: [...document.querySelectorAll("svg text")].map((t) => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a),
    costNote: q("cost-note").textContent,
    savings: q("chart-savings").dataset.points,
    traffic: q("chart-traffic").dataset.points,
    errors: q("chart-upstream-errors").dataset.points,
    hotTier: q("chart-hot-tier").dataset.points,
    evictions: q("chart-evictions").dataset.points,
    LatencyRow: [...document.querySelectorAll("#chart-latency g[data-outcome]")].map((g) => g.dataset.outcome),
  };
})()`

// TestDashboardLayout loads the dashboard in headless Chromium at 800 and
// 1,400 px wide after traffic, and checks that no two texts overlap, that
// chart text keeps its size, that every chart shares the same "now" and
// range, that the range selector works and that a missing price table is
// said so. Screenshots go to the artifacts directory the log names.
func TestDashboardLayout(t *testing.T) {
	chrome := chromiumPath(t)
	_, upURL := simUpstream(t)
	dir := t.TempDir()
	const token = "layout-token"
	s := start(t, upURL, dir, "--admin-token", token) // no price table

	first := chatAs(t, s.api, "sk-layout-a", userMsg("How do I reverse a list in Python?"))
	waitMetric(t, s.admin, "semcache_writeback_written_total 1")
	chatAs(t, s.api, "sk-layout-a", userMsg("How do I reverse a list in Python?"))
	chatAs(t, s.api, "sk-layout-a", userMsg("how can i reverse a list in python"))
	chatAs(t, s.api, "sk-layout-b-with-a-rather-long-key-name", userMsg("Explain how TLS certificates are verified"))
	if first.cache != "miss" {
		t.Fatalf("first request: %s", first.cache)
	}

	for _, width := range []int{800, 1400} {
		t.Run(fmt.Sprintf("width=%d", width), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			actx, cancelAlloc := chromedp.NewExecAllocator(ctx, headlessChrome(chrome, t.TempDir(), width, 1000)...)
			defer cancelAlloc()
			bctx, cancelBrowser := chromedp.NewContext(actx)
			defer cancelBrowser()

			if err := chromedp.Do(bctx, chromedp.EmulateViewport(int64(width), 1000), chromedp.Navigate(s.admin+"/dashboard/#token="+token)); err != nil {
				t.Fatalf("navigate: %v", err)
			}
			ready := `(() => {
			  const q = (id) => document.querySelector('[data-testid="' + id + '"]');
			  return Number(q("hit-rate").dataset.value || 0) > 0 && Number(q("chart-hit-rate").dataset.points || 0) > 0 &&
			    document.querySelectorAll("#chart-latency g[data-outcome]").length >= 3;
			})()`
			if _, err := chromedp.Run(bctx, chromedp.Poll[bool](ready, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
				t.Fatalf("the dashboard never showed the traffic: %v", err)
			}
			shoot(t, bctx, fmt.Sprintf("dashboard-%d.png", width))

			// The detector sees an overlap planted in the page.
			// (styled through the CSSOM: the page's CSP refuses inline styles)
			plant := `(() => { const d = document.createElement("div"); d.id = "probe";
			  for (const [text, x, y] of [["probe one", 10, 10], ["probe two", 14, 12]]) {
			    const s = document.createElement("span");
			    s.textContent = text;
			    Object.assign(s.style, {position: "fixed", left: x + "px", top: y + "px"});
			    d.appendChild(s);
			  }
			  document.body.appendChild(d); return true; })()`
			if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](plant)); err != nil {
				t.Fatal(err)
			}
			probe, err := chromedp.Run(bctx, chromedp.Evaluate[overlapReport](textOverlaps))
			if err != nil || len(probe.Overlaps) == 0 || !strings.Contains(strings.Join(probe.Overlaps, " "), "probe") {
				t.Fatalf("the overlap check missed a planted overlap: %v %+v", err, probe)
			}
			if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.getElementById("probe").remove() || true`)); err != nil {
				t.Fatal(err)
			}

			rep, err := chromedp.Run(bctx, chromedp.Evaluate[overlapReport](textOverlaps))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Count < 100 {
				t.Fatalf("only %d text boxes measured: the page did not render", rep.Count)
			}
			for _, o := range rep.Overlaps {
				t.Errorf("text overlaps: %s", o)
			}

			f, err := chromedp.Run(bctx, chromedp.Evaluate[chartFacts](readCharts))
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Tos) < 6 {
				t.Fatalf("%d time charts drawn, want 6", len(f.Tos))
			}
			for i := range f.Tos {
				if f.Tos[i] != f.Tos[0] || f.Froms[i] != f.Froms[0] {
					t.Errorf("charts on different axes: to %v, from %v", f.Tos, f.Froms)
					break
				}
			}
			for _, px := range f.FontPx {
				if px < 10.5 || px > 11.5 {
					t.Errorf("chart text drawn at %.2f px, want 11 px at any width", px)
					break
				}
			}
			if f.CostNote != "no price table configured" {
				t.Errorf("cost note %q without a price table", f.CostNote)
			}
			for name, n := range map[string]string{"traffic": f.Traffic, "upstream errors": f.Errors, "hot tier": f.HotTier, "evictions": f.Evictions, "tokens saved": f.Savings} {
				if n == "" || n == "0" {
					t.Errorf("the %s chart has no points", name)
				}
			}
			if !strings.Contains(strings.Join(f.LatencyRow, ","), "first_byte") {
				t.Errorf("latency rows %v: no first byte of misses", f.LatencyRow)
			}

			// A line breaks at a point that follows an idle interval:
			// two runs, two paths, no segment across the gap.
			breaks := `(() => {
			  const svg = document.getElementById("chart-hit-rate");
			  lineChart(svg, [{name: "all hits", key: "all", points: [{t: 1000, v: .5}, {t: 2000, v: .6}, {t: 8000, v: .4, break: true}, {t: 9000, v: .5}]}],
			    {from: 0, to: 10000}, {yMax: 1, yFormat: pctAxis});
			  return svg.querySelectorAll("path.line").length;
			})()`
			if n, err := chromedp.Run(bctx, chromedp.Evaluate[int](breaks)); err != nil || n != 2 {
				t.Errorf("a series with a break drew %d lines (%v), want 2", n, err)
			}

			// The range selector: 24 h of axis on every chart.
			pick := `(() => { const r = document.getElementById("range"); r.value = "24h"; r.dispatchEvent(new Event("change")); return r.value; })()`
			if v, err := chromedp.Run(bctx, chromedp.Evaluate[string](pick)); err != nil || v != "24h" {
				t.Fatalf("pick the 24 h range: %q %v", v, err)
			}
			day := `(() => [...document.querySelectorAll("svg[data-to]")].every((c) => Number(c.dataset.to) - Number(c.dataset.from) === 86400000))()`
			if _, err := chromedp.Run(bctx, chromedp.Poll[bool](day, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
				t.Fatalf("the 24 h range did not reach every chart: %v", err)
			}
			rep, err = chromedp.Run(bctx, chromedp.Evaluate[overlapReport](textOverlaps))
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range rep.Overlaps {
				t.Errorf("24 h range: text overlaps: %s", o)
			}
			shoot(t, bctx, fmt.Sprintf("dashboard-%d-24h.png", width))
		})
	}
}

// shoot saves a full-page screenshot as a test artifact.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := artifactPath(t, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("screenshot: %s", abs)
}
