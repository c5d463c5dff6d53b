package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCacheRulesConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		rules      int
		errs       []string // every one must be reported
	}{
		{"none", "", 0, nil},
		{"valid", `cache_rules:
  - name: pii
    when: {pii: true}
    action: bypass
  - name: hot-sampling
    match: {routes: [chat, responses], models: ["gpt-4o*"], namespaces: ["tenant:acme*"]}
    when: {temperature_above: 0.7, tools_present: false, prompt_tokens_above: 4000}
    action: no_store
  - name: short-lived
    match: {routes: [completions]}
    ttl: 10m
`, 3, nil},
		{"every problem at once", `cache_rules:
  - name: typo
    when: {temprature_above: 0.7}
    action: bypass
`, 0, []string{"temprature_above"}},
		{"bad rules joined", `cache_rules:
  - name: a
    action: drop
  - action: bypass
  - name: c
    ttl: -1m
`, 0, []string{`action "drop"`, "needs a name", "positive ttl"}},
		{"bad duration", `cache_rules:
  - name: t
    ttl: soon
`, 0, []string{"cache_rules"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := writeConfig(t, dir, "upstream: http://127.0.0.1:1/v1\n"+tt.yaml)
			c, _, err := parseConfig("serve", []string{"--config", file, "--data-dir", dir})
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if n := c.file.CacheRules.rules.Len(); n != tt.rules {
					t.Fatalf("%d rules, want %d", n, tt.rules)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not mention %q:\n%v", want, err)
				}
			}
		})
	}
}

func metricsText(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestCacheRulesServeAndReload: the rules of the config file apply, are
// counted from 0, and a reload replaces them.
func TestCacheRulesServeAndReload(t *testing.T) {
	_, upURL := simUpstream(t)
	dir := t.TempDir()
	rules := "cache_rules:\n  - name: pii\n    when: {pii: true}\n    action: bypass\n  - name: never\n    match: {models: [nothing-matches]}\n    action: no_store\n"
	writeConfig(t, dir, "upstream: "+upURL+"\n"+rules)
	reload := make(chan os.Signal, 1)
	s := serveWith(t, reload, "--config", filepath.Join(dir, "semcache.yaml"), "--data-dir", filepath.Join(dir, "data"))
	m := metricsText(t, s.admin)
	for _, series := range []string{
		`semcache_rule_applied_total{action="bypass",rule="pii"} 0`,
		`semcache_rule_applied_total{action="no_store",rule="never"} 0`,
		`semcache_policy_ignored_total{header="threshold",reason="lower"} 0`,
		`semcache_policy_ignored_total{header="threshold",reason="invalid"} 0`,
	} {
		if !strings.Contains(m, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	q := userMsg("My card is 4111 1111 1111 1111, what is my balance?")
	for range 2 {
		if a := ask(t, s.api, "k", q); a.status != 200 || a.cache != "bypass" {
			t.Fatalf("with the rule: %+v", a)
		}
	}
	if n := counter(t, s.admin, `semcache_rule_applied_total{action="bypass",rule="pii"}`); n != 2 {
		t.Fatalf("pii applied %v times, want 2", n)
	}
	writeConfig(t, dir, "upstream: "+upURL+"\n")
	reload <- os.Interrupt
	waitCounter(t, s.admin, `semcache_config_reloads_total{result="ok"}`, 1)
	if a := ask(t, s.api, "k", q); a.cache != "miss" {
		t.Fatalf("after the reload: %+v", a)
	}
	if a := ask(t, s.api, "k", q); a.cache != "hit-exact" {
		t.Fatalf("after the reload, again: %+v", a)
	}
	// A config with a bad rule is rejected whole; the running one stays.
	writeConfig(t, dir, "upstream: "+upURL+"\n"+rules+"  - name: pii\n    action: bypass\n")
	reload <- os.Interrupt
	waitCounter(t, s.admin, `semcache_config_reloads_total{result="rejected"}`, 1)
	if a := ask(t, s.api, "k", q); a.cache != "hit-exact" {
		t.Fatalf("after a rejected reload: %+v", a)
	}
}
