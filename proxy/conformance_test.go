package proxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/proxy/fronttest"
)

// httpFront sends requests to the HTTP front as a client would.
type httpFront struct {
	base string
	rec  *fronttest.Recorder
}

func (f httpFront) Do(ctx context.Context, r *fronttest.Request) *fronttest.Response {
	req, err := http.NewRequestWithContext(ctx, r.Method, f.base+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		return &fronttest.Response{Err: err, Header: http.Header{}}
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &fronttest.Response{Err: err, Header: http.Header{}, Upstream: f.rec.Take()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return &fronttest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b, Err: err, Upstream: f.rec.Take()}
}

// TestFrontConformance runs the fronts' conformance suite on the HTTP
// front.
func TestFrontConformance(t *testing.T) {
	fronttest.Run(t, func(t *testing.T, o fronttest.Options) *fronttest.Env {
		s := fronttest.NewStack(t, o)
		u, _ := url.Parse(s.UpstreamURL.String() + "/v1")
		srv, err := NewServer(ServerOptions{Engine: s.Engine, Upstream: u})
		if err != nil {
			t.Fatal(err)
		}
		front := httptest.NewServer(srv)
		t.Cleanup(front.Close)
		return &fronttest.Env{Front: httpFront{base: front.URL, rec: s.Recorder}, Upstream: s.Sim, Cache: s.Cache,
			Metrics: s.Metrics, Name: engine.FrontHTTP.Name}
	})
}
