package compare

import (
	"bytes"
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
	// StackNetHTTP is a net/http handler that reads the body, sends it
	// with an http.Client and writes the answer back: the shape of
	// semcache's miss path without its work.
	StackNetHTTP = "net/http"
	// StackReverseProxy is net/http's server with httputil.ReverseProxy.
	StackReverseProxy = "httputil"
	// StackFastClient is StackNetHTTP with github.com/valyala/fasthttp's
	// client in place of http.Client.
	StackFastClient = "net/http+fasthttp-client"
	// StackFastHTTP is fasthttp's server and client (requests parsed in
	// place, no goroutines per connection).
	StackFastHTTP = "fasthttp"
)

// ServeBare is what the reference modes (bare, bare-reverseproxy,
// bare-fastclient, bare-fasthttp) measure: a plain Go proxy in front of
// upstream on one of the stacks above, doing none of semcache's work
// (no parsing, no cache, no write-back). StackNetHTTP is the floor of a
// miss's second hop in semcache's shape on the machine; the others show
// what other Go HTTP stacks' floors are. It announces its addresses in
// the line semcache prints, serves /readyz on the admin listener, and
// returns when ctx ends.
func ServeBare(ctx context.Context, upstream *url.URL, stack string, stdout io.Writer) error {
	if upstream == nil || upstream.Host == "" {
		return errors.New("compare: bare proxy: the upstream URL is required")
	}
	target := *upstream
	target.Path = "" // requests keep their /v1/... path
	var api http.Handler
	var fast *fasthttp.Server
	fastClient := &fasthttp.HostClient{Addr: target.Host, MaxConns: 512, MaxIdleConnDuration: 90 * time.Second}
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	switch stack {
	case StackNetHTTP:
		api = bareHandler(&target, (&http.Client{Transport: transport}).Do)
	case StackFastClient:
		api = bareHandler(&target, func(r *http.Request) (*http.Response, error) { return fastDo(fastClient, r) })
	case StackReverseProxy:
		api = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(&target) }, Transport: transport}
	case StackFastHTTP:
		fast = &fasthttp.Server{Handler: func(rc *fasthttp.RequestCtx) {
			rc.Request.SetHost(target.Host)
			if err := fastClient.Do(&rc.Request, &rc.Response); err != nil {
				rc.Error(err.Error(), http.StatusBadGateway)
			}
		}}
	default:
		return fmt.Errorf("compare: bare proxy: stack %q: want %s, %s, %s or %s", stack, StackNetHTTP, StackReverseProxy, StackFastClient, StackFastHTTP)
	}

	var lc net.ListenConfig
	apiLn, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("compare: bare proxy: %w", err)
	}
	adminLn, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("compare: bare proxy: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ready\n") })
	servers := []*http.Server{{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	listeners := []net.Listener{adminLn}
	errc := make(chan error, 2)
	if fast != nil {
		go func() { errc <- fast.Serve(apiLn) }()
	} else {
		servers = append(servers, &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, apiLn)
	}
	for i, ln := range listeners {
		go func() { errc <- servers[i].Serve(ln) }()
	}
	fmt.Fprintf(stdout, "semcache listening on http://%s (admin http://%s) [bare reference proxy, %s]\n", apiLn.Addr(), adminLn.Addr(), stack)
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

// bareHandler reads a request's body, sends it to target with do and
// copies the answer back.
func bareHandler(target *url.URL, do func(*http.Request) (*http.Response, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		u := *target
		u.Path, u.RawQuery = r.URL.Path, r.URL.RawQuery
		req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		req.Header.Set("Authorization", r.Header.Get("Authorization"))
		resp, err := do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}

// fastDo sends r with fasthttp's client, the answer read whole.
func fastDo(c *fasthttp.HostClient, r *http.Request) (*http.Response, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(r.URL.String())
	req.Header.SetMethod(r.Method)
	for k, v := range r.Header {
		for _, s := range v {
			req.Header.Add(k, s)
		}
	}
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		req.SetBody(b)
	}
	if err := c.Do(req, resp); err != nil {
		return nil, err
	}
	out := &http.Response{StatusCode: resp.StatusCode(), Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(bytes.Clone(resp.Body())))}
	out.Header.Set("Content-Type", string(resp.Header.ContentType()))
	return out, nil
}
