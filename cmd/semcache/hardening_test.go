package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHardeningConfig: every unsafe combination is refused at start, with
// a message that says what to do; safe ones start.
func TestHardeningConfig(t *testing.T) {
	dir := t.TempDir()
	file := func(name, yaml string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys := file("keys.yaml", "client_keys: [sk-client-1, \"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"]\n")
	tenants := file("tenants.yaml", "tenants:\n  - name: acme\n    keys: [sk-acme]\n")
	tests := []struct {
		name string
		args []string
		want string // "" : valid
	}{
		{"defaults", nil, ""},
		{"admin on the network without a token", []string{"--admin-listen", "0.0.0.0:8081"}, "--admin-token"},
		{"admin on the network with a token", []string{"--admin-listen", "0.0.0.0:8081", "--admin-token", "t"}, ""},
		{"upstream key on the network without client auth", []string{"--listen", "0.0.0.0:8080", "--upstream-key", "sk-op"}, "--client-auth"},
		{"upstream key on loopback", []string{"--upstream-key", "sk-op"}, ""},
		{"upstream key on the network with client auth", []string{"--listen", "0.0.0.0:8080", "--upstream-key", "sk-op", "--client-auth", "--config", keys}, ""},
		{"client auth with tenant keys only", []string{"--client-auth", "--config", tenants}, ""},
		{"client auth without keys", []string{"--client-auth"}, "client_keys"},
		{"client keys without client auth", []string{"--config", keys}, "--client-auth is off"},
		{"bad client key hash", []string{"--client-auth", "--config", file("bad.yaml", "client_keys: [\"sha256:zz\"]\n")}, "64 hex"},
		{"ext_proc on the network without mTLS", []string{"--extproc-listen", "0.0.0.0:9002"}, "mutual TLS"},
		{"ext_proc on the network with TLS only", []string{"--extproc-listen", "0.0.0.0:9002", "--extproc-tls-cert", "c", "--extproc-tls-key", "k"}, "mutual TLS"},
		{"ext_proc on loopback", []string{"--extproc-listen", "127.0.0.1:9002"}, ""},
		{"ext_proc on a unix socket", []string{"--extproc-listen", "unix:" + filepath.Join(dir, "s.sock")}, ""},
		{"ext_proc certificate without key", []string{"--extproc-tls-cert", "c"}, "go together"},
		{"ext_proc client CA without certificate", []string{"--extproc-client-ca", "ca"}, "needs --extproc-tls-cert"},
		{"ext_proc unreadable key pair", []string{"--extproc-tls-cert", filepath.Join(dir, "none.pem"), "--extproc-tls-key", filepath.Join(dir, "none.key")}, "key pair"},
		{"bad key header", []string{"--config", file("kh.yaml", "key_headers: [\"X-Route\", \"bad header\"]\n")}, "key_headers"},
		{"no key headers", []string{"--config", file("kh0.yaml", "key_headers: []\n")}, ""},
		{"bad passthrough", []string{"--config", file("pt.yaml", "passthrough: [/v1/models, /v1/../admin]\n")}, "passthrough"},
		{"body budget under the body limit", []string{"--max-body-bytes", "8MiB", "--max-body-inflight", "1MiB"}, "--max-body-inflight"},
		{"limits", []string{"--max-connections", "0", "--body-timeout", "0s"}, "--max-connections"},
		{"similarity bounds", []string{"--embed-max-bytes", "1", "--semantic-max-bytes", "lots"}, "--semantic-max-bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := parseConfig("serve", append([]string{"--data-dir", dir}, tt.args...))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			case tt.want == "" && tt.name == "no key headers" && len(c.keyHeaders) != 0:
				t.Fatalf("key headers %v, want none", c.keyHeaders)
			}
		})
	}
}

// TestNoOpenRelay: with --upstream-key, --client-auth admits only the
// configured keys (each in its own namespace), relays only allow-listed
// paths with the operator's key, and never a path that leaves /v1.
func TestNoOpenRelay(t *testing.T) {
	up, upURL := simUpstream(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "semcache.yaml")
	if err := os.WriteFile(cfg, []byte("client_keys: [sk-app-1, sk-app-2]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, upURL, filepath.Join(dir, "data"), "--config", cfg, "--client-auth", "--upstream-key", "sk-operator")
	body := userMsg("Who may spend the operator's key?")
	for _, key := range []string{"sk-stranger", ""} {
		if a := ask(t, s.api, key, body); a.status != http.StatusUnauthorized || !strings.Contains(a.body, "invalid_api_key") {
			t.Fatalf("key %q: %+v", key, a)
		}
	}
	if up.ChatCalls() != 0 {
		t.Fatalf("a refused request reached the upstream")
	}
	if a := ask(t, s.api, "sk-app-1", body); a.status != 200 || a.cache != "miss" {
		t.Fatalf("allowed key: %+v", a)
	}
	if got := up.LastHeaders().Get("Authorization"); got != "Bearer sk-operator" {
		t.Fatalf("upstream got Authorization %q", got)
	}
	// Each client key is its own namespace even behind one operator key.
	if a := ask(t, s.api, "sk-app-2", body); a.cache != "miss" {
		t.Fatalf("another client key shares the first one's entry: %+v", a)
	}
	get := func(key, path string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, s.api+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		key, path string
		status    int
		contains  string
	}{
		{"sk-stranger", "/v1/models", 401, "invalid_api_key"},
		{"sk-app-1", "/v1/models", 200, "sim-gpt"},
		{"sk-app-1", "/v1/organization/admin_api_keys", 404, "unknown_url"},
		{"sk-app-1", "/v1/%2e%2e/%2e%2e/x", 400, "invalid_path"},
		{"sk-app-1", "/v1/%2e%2e/v1/models", 400, "invalid_path"},
	} {
		if status, b := get(c.key, c.path); status != c.status || !strings.Contains(b, c.contains) {
			t.Errorf("GET %s with %q: %d %.200s", c.path, c.key, status, b)
		}
	}
}

// TestReloadClientKeys: client keys change with a reload, like tenants:
// a key added to client_keys is admitted without a restart, a removed one
// is refused from then on.
func TestReloadClientKeys(t *testing.T) {
	_, upURL := simUpstream(t)
	dir := t.TempDir()
	writeConfig(t, dir, "upstream: "+upURL+"\nclient-auth: true\nclient_keys: [sk-old]\n")
	reload := make(chan os.Signal, 1)
	s := serveWith(t, reload, "--config", filepath.Join(dir, "semcache.yaml"), "--data-dir", filepath.Join(dir, "data"), "--config-watch", "0")
	body := userMsg("Are new keys admitted after a reload?")
	if a := ask(t, s.api, "sk-new", body); a.status != http.StatusUnauthorized {
		t.Fatalf("before the reload: %+v", a)
	}
	writeConfig(t, dir, "upstream: "+upURL+"\nclient-auth: true\nclient_keys: [sk-new]\n")
	reload <- os.Interrupt
	waitCounter(t, s.admin, `semcache_config_reloads_total{result="ok"}`, 1)
	if a := ask(t, s.api, "sk-new", body); a.status != http.StatusOK {
		t.Fatalf("a key added by the reload: %+v", a)
	}
	if a := ask(t, s.api, "sk-old", body); a.status != http.StatusUnauthorized {
		t.Fatalf("a key removed by the reload: %+v", a)
	}
}
