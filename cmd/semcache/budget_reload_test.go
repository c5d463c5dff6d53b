package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// budgetLines returns the semcache_budget_error_budget series of a scrape.
func budgetLines(t *testing.T, admin string) []string {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "semcache_budget_error_budget{") {
			out = append(out, l)
		}
	}
	return out
}

// TestReloadErrorBudgets: error budgets change with a reload. A service
// started without one serves a paraphrase on the static cut-off; given a
// budget by a reload, its learner (which knows nothing yet) decides the
// next paraphrase and refuses it; the budget's value changes with the
// next reload, and removing it brings back the static cut-off.
func TestReloadErrorBudgets(t *testing.T) {
	_, upURL := simUpstream(t)
	dir := t.TempDir()
	writeConfig(t, dir, "upstream: "+upURL+"\n")
	reload := make(chan os.Signal, 1)
	s := serveWith(t, reload, "--config", filepath.Join(dir, "semcache.yaml"), "--data-dir", filepath.Join(dir, "data"), "--config-watch", "0")
	if a := ask(t, s.api, "k", userMsg("How do I reverse a list in Python?")); a.cache != "miss" {
		t.Fatalf("base: %+v", a)
	}
	waitMetric(t, s.admin, "semcache_writeback_written_total 1")
	if a := ask(t, s.api, "k", userMsg("how can i reverse a list in python")); a.cache != "hit-semantic" {
		t.Fatalf("paraphrase without a budget: %+v", a)
	}
	if l := budgetLines(t, s.admin); len(l) != 0 {
		t.Fatalf("budgets before any is configured: %q", l)
	}

	reloads := 0.0
	apply := func(yaml string) {
		t.Helper()
		writeConfig(t, dir, "upstream: "+upURL+"\n"+yaml)
		reload <- os.Interrupt
		reloads++
		waitCounter(t, s.admin, `semcache_config_reloads_total{result="ok"}`, reloads)
	}
	apply("error-budget: 0.05\n")
	if a := ask(t, s.api, "k", userMsg("how do you reverse a list in python")); a.cache != "miss" {
		t.Fatalf("paraphrase under a budget nothing has been learned for: %+v", a)
	}
	l := budgetLines(t, s.admin)
	if len(l) != 1 || !strings.HasSuffix(l[0], " 0.05") {
		t.Fatalf("budgets after the reload: %q", l)
	}
	if strings.Contains(s.stderr.String(), "error-budget") {
		t.Errorf("the reload logged the budget as restart-only:\n%s", s.stderr.String())
	}
	_, ns, _ := strings.Cut(l[0], `namespace="`)
	ns, _, _ = strings.Cut(ns, `"`)

	apply("error_budgets: {\"" + ns + "\": 0.02}\n")
	l = budgetLines(t, s.admin)
	if len(l) != 1 || !strings.HasSuffix(l[0], " 0.02") {
		t.Fatalf("budgets after the second reload: %q", l)
	}

	apply("")
	if l := budgetLines(t, s.admin); len(l) != 0 {
		t.Fatalf("budgets after removing them: %q", l)
	}
	if a := ask(t, s.api, "k", userMsg("how can you reverse a list in python")); a.cache != "hit-semantic" {
		t.Fatalf("paraphrase after the budget was removed: %+v", a)
	}

	// A bad budget is rejected whole; the running one stays.
	writeConfig(t, dir, "upstream: "+upURL+"\nerror-budget: 1.5\n")
	reload <- os.Interrupt
	waitCounter(t, s.admin, `semcache_config_reloads_total{result="rejected"}`, 1)
}
