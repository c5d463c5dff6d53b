package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// ServeBare is what mode "bare" measures: a plain Go reverse proxy
// (net/http/httputil.ReverseProxy, a transport sized like semcache's) in
// front of upstream, doing none of semcache's work. It is the floor of a
// miss's second hop through a Go net/http process on the machine: what
// any Go proxy adds before its own work. It announces its addresses in
// the line semcache prints, serves /readyz on the admin listener, and
// returns when ctx ends.
func ServeBare(ctx context.Context, upstream *url.URL, stdout io.Writer) error {
	if upstream == nil || upstream.Host == "" {
		return errors.New("compare: bare proxy: the upstream URL is required")
	}
	var lc net.ListenConfig
	api, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("compare: bare proxy: %w", err)
	}
	admin, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		api.Close()
		return fmt.Errorf("compare: bare proxy: %w", err)
	}
	target := *upstream
	target.Path = "" // requests keep their /v1/... path
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(&target) },
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ready\n") })
	servers := []*http.Server{
		{Handler: rp, ReadHeaderTimeout: 10 * time.Second},
		{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}
	errc := make(chan error, 2)
	for i, ln := range []net.Listener{api, admin} {
		go func() { errc <- servers[i].Serve(ln) }()
	}
	fmt.Fprintf(stdout, "semcache listening on http://%s (admin http://%s) [bare reference proxy]\n", api.Addr(), admin.Addr())
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	for _, s := range servers {
		_ = s.Close()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
