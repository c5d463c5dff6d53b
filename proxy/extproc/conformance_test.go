package extproc_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/proxy/extproc"
	"github.com/semcache/semcache/proxy/extproc/envoydriver"
	"github.com/semcache/semcache/proxy/fronttest"
)

// envoyFront sends requests through the ext_proc server with the protocol
// driver playing Envoy, configured as docs/envoy/envoy.yaml documents.
type envoyFront struct{ d *envoydriver.Driver }

func (f envoyFront) Do(ctx context.Context, r *fronttest.Request) *fronttest.Response {
	resp, err := f.d.Do(ctx, &envoydriver.Request{Method: r.Method, Path: r.Path, Header: r.Header.Clone(), Body: r.Body})
	if resp == nil {
		return &fronttest.Response{Err: err, Header: http.Header{}}
	}
	out := &fronttest.Response{Status: resp.Status, Header: resp.Header, Body: resp.Body, Err: err}
	if out.Header == nil {
		out.Header = http.Header{}
	}
	if u := resp.Upstream; u != nil {
		out.Upstream = &fronttest.Forwarded{Path: u.Path, Header: u.Header, Body: u.Body}
	}
	return out
}

// TestFrontConformance runs the fronts' conformance suite on ext_proc.
func TestFrontConformance(t *testing.T) {
	fronttest.Run(t, func(t *testing.T, o fronttest.Options) *fronttest.Env {
		s := fronttest.NewStack(t, o)
		srv, err := extproc.NewServer(extproc.Options{Engine: s.Engine})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		g := srv.NewGRPCServer()
		go func() { _ = g.Serve(ln) }()
		t.Cleanup(g.Stop)
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fc := documentedConfig(t)
		fc.MessageTimeout = 10 * time.Second
		d := &envoydriver.Driver{Client: extprocv3.NewExternalProcessorClient(conn), Config: fc, Upstream: s.UpstreamURL}
		return &fronttest.Env{Front: envoyFront{d: d}, Upstream: s.Sim, Cache: s.Cache, Metrics: s.Metrics,
			Name: engine.FrontExtProc.Name}
	})
}
