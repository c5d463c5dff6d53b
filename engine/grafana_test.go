package engine

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// grafanaJSON is the dashboard shipped for Grafana.
const grafanaJSON = "../deploy/grafana/semcache.json"

type grafanaPanel struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
		Overrides []struct {
			Properties []struct {
				ID string `json:"id"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // of a collapsed row
}

type grafanaDashboard struct {
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

// registeredLabels maps every metric semcache registers (engine, cache
// and error-budget metrics) to its variable labels.
func registeredLabels(t *testing.T) map[string][]string {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry(), 0, nil)
	b, pol, spec := m.budget, m.policy(), m.speculation()
	collectors := append(m.collectors(), &cacheCollector{}, b.decisions, b.labels, b.feedback, b.exploreCalls,
		b.exploreTokens, b.exploreCost, &budgetCollector{}, pol.ignored, pol.rules, spec.calls, spec.tokens)
	labels := regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	out := map[string][]string{}
	for _, c := range collectors {
		ch := make(chan *prometheus.Desc, 64)
		go func() {
			c.Describe(ch)
			close(ch)
		}()
		for d := range ch {
			name := fqName.FindStringSubmatch(d.String())
			l := labels.FindStringSubmatch(d.String())
			if name == nil || l == nil {
				t.Fatalf("cannot read %s", d)
			}
			out[name[1]] = strings.Split(l[1], ",")
		}
	}
	return out
}

// selector matches a metric name and its label matchers, if any.
var selector = regexp.MustCompile(`\b(semcache_[a-z0-9_]+)(\{[^}]*\})?`)

// TestGrafanaDashboard: every query names registered metrics and filters
// by $instance, and by $namespace whenever the metric has a namespace
// label; a panel that shows a metric without one says it is instance-wide;
// a panel has one unit.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(grafanaJSON)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", grafanaJSON, err)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["instance"] != "query" || vars["namespace"] != "query" {
		t.Fatalf("template variables %v: want instance and namespace queries", vars)
	}
	reg := registeredLabels(t)
	var panels []grafanaPanel
	for _, p := range d.Panels {
		panels = append(panels, p)
		panels = append(panels, p.Panels...)
	}
	queries := 0
	for _, p := range panels {
		if p.Type == "row" {
			continue
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q has no unit", p.Title)
		}
		for _, o := range p.FieldConfig.Overrides {
			for _, prop := range o.Properties {
				if prop.ID == "unit" {
					t.Errorf("panel %q mixes units (an override sets one)", p.Title)
				}
			}
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		// One axis, one kind of quantity: a panel's queries are all
		// quantiles, all money, all rates or all levels.
		kinds := map[string]bool{}
		for _, tg := range p.Targets {
			kinds[quantityOf(tg.Expr)] = true
		}
		if len(kinds) > 1 {
			t.Errorf("panel %q mixes quantities on one axis: %v", p.Title, kinds)
		}
		for _, tg := range p.Targets {
			queries++
			found := selector.FindAllStringSubmatch(tg.Expr, -1)
			if len(found) == 0 {
				t.Errorf("panel %q: query %q reads no semcache metric", p.Title, tg.Expr)
			}
			for _, f := range found {
				name, matchers := f[1], f[2]
				base := name
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if _, ok := reg[base]; !ok {
						base = strings.TrimSuffix(base, suffix)
					}
				}
				labels, ok := reg[base]
				if !ok {
					t.Errorf("panel %q: %s is not a registered metric", p.Title, name)
					continue
				}
				if !strings.Contains(matchers, `instance=~"$instance"`) {
					t.Errorf("panel %q: %s does not filter by $instance", p.Title, name)
				}
				switch {
				case slices.Contains(labels, "namespace"):
					if !strings.Contains(matchers, `namespace=~"$namespace"`) {
						t.Errorf("panel %q: %s has a namespace label but ignores $namespace", p.Title, name)
					}
				case !strings.Contains(p.Title, "instance-wide"):
					t.Errorf("panel %q: %s has no namespace label, and the title does not say instance-wide", p.Title, name)
				}
			}
		}
	}
	if queries < 40 {
		t.Fatalf("only %d queries checked", queries)
	}
	for _, v := range d.Templating.List {
		q, _ := json.Marshal(v.Query)
		for _, f := range selector.FindAllStringSubmatch(string(q), -1) {
			if _, ok := reg[f[1]]; !ok {
				t.Errorf("variable %s reads %s, not a registered metric", v.Name, f[1])
			}
		}
	}
}

// quantityOf classifies a query by what it puts on the axis.
func quantityOf(expr string) string {
	switch {
	case strings.Contains(expr, "histogram_quantile("):
		return "quantile"
	case strings.Contains(expr, "_usd_"):
		return "money"
	case strings.Contains(expr, "rate(") || strings.Contains(expr, "increase("):
		return "rate"
	}
	return "level"
}

// TestReadmeNamesRegisteredMetrics: every metric the README names is one
// semcache registers (semcache_config_reloads_total and the embedder
// stack's semcache_embed_* are cmd/semcache's: cmd/semcache's tests read
// those from a running server).
func TestReadmeNamesRegisteredMetrics(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	reg := registeredLabels(t)
	reg["semcache_config_reloads_total"] = []string{"result"}
	for _, n := range []string{"clipped", "cache", "batches", "batched_texts", "refused", "waited"} {
		reg["semcache_embed_"+n+"_total"] = nil
	}
	names := regexp.MustCompile("`(semcache_[a-z0-9_]+)[`{]").FindAllStringSubmatch(string(raw), -1)
	if len(names) < 40 {
		t.Fatalf("only %d metric names found in the README", len(names))
	}
	for _, n := range names {
		if _, ok := reg[n[1]]; !ok {
			t.Errorf("the README names %s, which semcache does not register", n[1])
		}
	}
}
