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

	"github.com/valyala/fasthttp"
)

// Stacks of the bare proxy (ServeBare).
const (
	// StackNetHTTP is net/http's server and httputil.ReverseProxy.
	StackNetHTTP = "net/http"
	// StackFastHTTP is github.com/valyala/fasthttp's server and client
	// (requests parsed in place, no goroutine per connection hand-off).
	StackFastHTTP = "fasthttp"
	// StackFastClient is net/http's server with fasthttp's client: what
	// semcache's front would cost with only its upstream client replaced.
	StackFastClient = "net/http+fasthttp-client"
)

// ServeBare is what modes "bare" and "bare-fasthttp" measure: a plain Go
// reverse proxy in front of upstream, doing none of semcache's work. With
// StackNetHTTP (net/http/httputil.ReverseProxy, a transport sized like
// semcache's) it is the floor of a miss's second hop through a Go
// net/http process on the machine: what any such proxy adds before its
// own work; StackFastHTTP shows what another HTTP stack's floor is. It
// announces its addresses in the line semcache prints, serves /readyz on
// the admin listener, and returns when ctx ends.
func ServeBare(ctx context.Context, upstream *url.URL, stack string, stdout io.Writer) error {
	if upstream == nil || upstream.Host == "" {
		return errors.New("compare: bare proxy: the upstream URL is required")
	}
	if stack != StackNetHTTP && stack != StackFastHTTP && stack != StackFastClient {
		return fmt.Errorf("compare: bare proxy: stack %q: want %s, %s or %s", stack, StackNetHTTP, StackFastHTTP, StackFastClient)
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
	var apiHandler http.Handler = rp
	errc := make(chan error, 2)
	var fast *fasthttp.Server
	client := &fasthttp.HostClient{Addr: target.Host, MaxConns: 512, MaxIdleConnDuration: 90 * time.Second}
	switch stack {
	case StackFastClient:
		apiHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			req.SetRequestURI("http://" + target.Host + r.URL.RequestURI())
			req.Header.SetMethod(r.Method)
			req.Header.SetContentType(r.Header.Get("Content-Type"))
			req.SetBody(body)
			if err := client.Do(req, resp); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			w.Header().Set("Content-Type", string(resp.Header.ContentType()))
			w.WriteHeader(resp.StatusCode())
			_, _ = w.Write(resp.Body())
		})
	case StackFastHTTP:
		apiHandler = nil
		fast = &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) {
			rc.Request.SetHost(target.Host)
			if err := client.Do(&rc.Request, &rc.Response); err != nil {
				rc.Error(err.Error(), http.StatusBadGateway)
			}
		}}
		go func() { errc <- fast.Serve(api) }()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ready\n") })
	servers := []*http.Server{{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	listeners := []net.Listener{admin}
	if apiHandler != nil {
		servers = append(servers, &http.Server{Handler: apiHandler, ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, api)
	}
	for i, ln := range listeners {
		go func() { errc <- servers[i].Serve(ln) }()
	}
	fmt.Fprintf(stdout, "semcache listening on http://%s (admin http://%s) [bare reference proxy, %s]\n", api.Addr(), admin.Addr(), stack)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	for _, s := range servers {
		_ = s.Close()
	}
	if fast != nil {
		// Shutdown alone waits for idle keep-alive connections.
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = fast.ShutdownWithContext(sctx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
