package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/semcache/semcache/proxy/extproc/envoydriver"
)

var extProcListening = regexp.MustCompile(`semcache ext_proc listening" addr=(\S+)`)

// TestServeExtProc runs `semcache serve --extproc-listen` and drives it
// with the ext_proc protocol driver: one engine, two fronts.
func TestServeExtProc(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stale bool // a socket file from an earlier run is in the way
		tcp   bool
	}{
		{name: "tcp", tcp: true},
		{name: "unix socket over a stale one", stale: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up, upURL := simUpstream(t)
			dir := t.TempDir()
			listen := "127.0.0.1:0"
			if !tc.tcp {
				sock, err := os.MkdirTemp("", "semcache-sock")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(sock) })
				listen = "unix:" + filepath.Join(sock, "ep.sock")
				if tc.stale {
					ln, err := net.Listen("unix", strings.TrimPrefix(listen, "unix:"))
					if err != nil {
						t.Fatal(err)
					}
					ln.(*net.UnixListener).SetUnlinkOnClose(false)
					ln.Close()
				}
			}
			srv := start(t, upURL, dir, "--semantic", "off", "--extproc-listen", listen)
			m := extProcListening.FindStringSubmatch(srv.stderr.String())
			if m == nil {
				t.Fatalf("no ext_proc address logged:\n%s", srv.stderr.String())
			}
			target := m[1]
			if tc.tcp {
				target = "passthrough:///" + target
			}
			conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: extprocv3.ExternalProcessor_ServiceDesc.ServiceName})
			if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health: %v %v", hc, err)
			}
			u, _ := url.Parse(upURL)
			u.Path = ""
			d := &envoydriver.Driver{
				Client:   extprocv3.NewExternalProcessorClient(conn),
				Config:   envoydriver.FilterConfig{AllowModeOverride: true, MessageTimeout: 10 * time.Second},
				Upstream: u,
			}
			body := `{"model":"sim-gpt","messages":[{"role":"user","content":"Two fronts, one cache?"}]}`
			req := &envoydriver.Request{Method: http.MethodPost, Path: "/v1/chat/completions",
				Header: http.Header{"Authorization": {"Bearer k"}, "Content-Type": {"application/json"}}, Body: []byte(body)}
			miss, err := d.Do(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			hit, err := d.Do(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if miss.Immediate || !hit.Immediate || hit.Header.Get("X-Semcache") != "hit-exact" {
				t.Fatalf("miss immediate=%v, hit immediate=%v %v", miss.Immediate, hit.Immediate, hit.Header)
			}
			// The answer stored through ext_proc carries the :authority
			// Envoy routed it by: the HTTP front, with its own upstream,
			// has another route and does not serve it.
			if a := ask(t, srv.api, "k", body); a.cache != "miss" {
				t.Fatalf("HTTP front: X-Semcache %q", a.cache)
			}
			if n := up.ChatCalls(); n != 2 {
				t.Fatalf("upstream calls %d", n)
			}
			srv.stop()
			if !tc.tcp {
				if _, err := os.Stat(strings.TrimPrefix(listen, "unix:")); !os.IsNotExist(err) {
					t.Fatalf("socket left behind: %v", err)
				}
			}
		})
	}
}

func TestListenExtProcRefusesToDeleteFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-a-socket")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := listenExtProc("unix:" + path); err == nil {
		t.Fatal("listened over a regular file")
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Fatal("the file was touched")
	}
}
