package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/semcache/semcache/cache"
)

// ServerOptions configure the HTTP front.
type ServerOptions struct {
	Engine *Engine
	// Upstream is the base URL of the OpenAI-compatible API, e.g.
	// https://api.openai.com/v1. Request paths /v1/X go to Upstream + /X.
	Upstream *url.URL
	// UpstreamKey, when set, replaces the client's credential upstream.
	UpstreamKey string
	// MaxBodyBytes bounds request bodies (default 8 MiB).
	MaxBodyBytes int64
	// BodyReadTimeout bounds reading a request body (default 30 s).
	BodyReadTimeout time.Duration
	// UpstreamTimeout bounds one upstream call from start to the end of
	// its body (default 10 min).
	UpstreamTimeout time.Duration
	// CompleteOnDisconnect keeps reading an upstream answer after every
	// client went away, so it can still be cached. Off: the upstream call is
	// cancelled.
	CompleteOnDisconnect bool
	// Transport talks to the upstream (default: a tuned http.Transport).
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// Server is the OpenAI-compatible HTTP front.
type Server struct {
	engine      *Engine
	upstream    *url.URL
	upstreamKey string
	maxBody     int64
	bodyTimeout time.Duration
	upTimeout   time.Duration
	client      *http.Client
	flights     *flights
	passthrough *httputil.ReverseProxy
	log         *slog.Logger
	mux         *http.ServeMux
}

// NewServer validates its options and builds the handler.
func NewServer(o ServerOptions) (*Server, error) {
	var errs []error
	if o.Engine == nil {
		errs = append(errs, errors.New("proxy: server needs an engine"))
	}
	if o.Upstream == nil || o.Upstream.Scheme == "" || o.Upstream.Host == "" {
		errs = append(errs, errors.New("proxy: upstream must be an absolute URL"))
	} else if o.Upstream.Scheme != "http" && o.Upstream.Scheme != "https" {
		errs = append(errs, fmt.Errorf("proxy: upstream scheme %q must be http or https", o.Upstream.Scheme))
	}
	if o.MaxBodyBytes < 0 || o.BodyReadTimeout < 0 || o.UpstreamTimeout < 0 {
		errs = append(errs, errors.New("proxy: limits and timeouts must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 8 << 20
	}
	if o.BodyReadTimeout == 0 {
		o.BodyReadTimeout = 30 * time.Second
	}
	if o.UpstreamTimeout == 0 {
		o.UpstreamTimeout = 10 * time.Minute
	}
	if o.Transport == nil {
		o.Transport = newTransport()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		engine:      o.Engine,
		upstream:    o.Upstream,
		upstreamKey: o.UpstreamKey,
		maxBody:     o.MaxBodyBytes,
		bodyTimeout: o.BodyReadTimeout,
		upTimeout:   o.UpstreamTimeout,
		client:      &http.Client{Transport: o.Transport},
		flights:     &flights{m: map[string]*flight{}, keepOnDisconnect: o.CompleteOnDisconnect},
		log:         o.Logger,
	}
	s.passthrough = &httputil.ReverseProxy{
		Rewrite:       s.rewritePassthrough,
		FlushInterval: -1,
		Transport:     o.Transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("passthrough failed", "request_id", r.Header.Get("X-Request-Id"), "path", r.URL.Path, "err", err)
			writeError(w, http.StatusBadGateway, "upstream unreachable", "api_error", "", "upstream_unavailable")
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.handleChat)
	mux.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "use POST for /v1/chat/completions", "invalid_request_error", "", "method_not_allowed")
	})
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		rid := requestID(r)
		w.Header().Set("X-Request-Id", rid)
		r.Header.Set("X-Request-Id", rid)
		s.passthrough.ServeHTTP(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "unknown path "+r.URL.Path+"; semcache serves the OpenAI API under /v1/", "invalid_request_error", "", "not_found")
	})
	s.mux = mux
	return s, nil
}

func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// HTTPServer wraps the handler with slowloris-safe server timeouts.
// There is no WriteTimeout or ReadTimeout: streams may be long, and
// request bodies get their own deadline in the handler.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

func (s *Server) upstreamURL(suffix string) *url.URL {
	u := *s.upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + suffix
	u.RawPath = ""
	return &u
}

func (s *Server) rewritePassthrough(pr *httputil.ProxyRequest) {
	suffix := strings.TrimPrefix(pr.In.URL.Path, "/v1")
	pr.Out.URL = s.upstreamURL(suffix)
	pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	pr.Out.Host = ""
	s.setAuth(pr.Out.Header)
}

func (s *Server) setAuth(h http.Header) {
	if s.upstreamKey != "" {
		h.Set("Authorization", "Bearer "+s.upstreamKey)
		h.Del("Api-Key")
	}
}

func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	rid := requestID(r)
	w.Header().Set("X-Request-Id", rid)
	log := s.log.With("request_id", rid)

	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.bodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		s.engine.metrics.observeRequest("chat", s.engine.Namespace(r.Header), OutcomeError, 0)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status, b := StatusOf(err)
			writeRaw(w, status, "application/json", b)
			return
		}
		writeError(w, http.StatusBadRequest, "could not read request body", "invalid_request_error", "", "body_read_error")
		return
	}
	call, err := s.engine.Prepare(body, r.Header)
	if err != nil {
		s.engine.metrics.observeRequest("chat", s.engine.Namespace(r.Header), OutcomeError, 0)
		status, b := StatusOf(err)
		log.Info("bad chat request", "status", status, "err", err)
		writeRaw(w, status, "application/json", b)
		return
	}
	defer s.engine.Finish("chat", call)

	if entry := s.engine.Lookup(r.Context(), call); entry != nil {
		hit := s.engine.Render(call, entry)
		copyHeader(w.Header(), hit.Headers)
		if hit.ContentType == "text/event-stream" {
			w.Header().Set("Cache-Control", "no-cache")
		}
		writeRaw(w, http.StatusOK, hit.ContentType, hit.Body)
		log.Debug("cache hit", "namespace", call.Namespace, "outcome", call.Outcome, "entry", entry.ID)
		return
	}
	upBody := s.engine.Enrich(r.Context(), call)

	fkey := call.Result.Key.String()
	if call.Outcome == OutcomeBypass || call.Controls.NoStore {
		fkey = "solo:" + rid + ":" + hex.EncodeToString(randBytes(8))
	}
	fkey += fmt.Sprintf("|stream=%t|usage=%t", call.Request.Stream, call.Request.IncludeUsage)
	f, fctx, leader := s.flights.join(fkey, func() (context.Context, context.CancelFunc) {
		base := r.Context()
		if s.flights.keepOnDisconnect {
			base = context.WithoutCancel(base)
		}
		return context.WithTimeout(base, s.upTimeout)
	})
	if leader {
		go s.fetch(fctx, f, call, upBody, r.Header.Clone(), log)
	} else {
		s.engine.metrics.Coalesced.Inc()
		w.Header().Set("X-Semcache-Coalesced", "true")
	}
	copyHeader(w.Header(), s.engine.MissHeaders(call))
	s.serveFlight(w, r, f)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// serveFlight replays a flight's response to one client and follows it live.
func (s *Server) serveFlight(w http.ResponseWriter, r *http.Request, f *flight) {
	defer s.flights.leave(f)
	ctx := r.Context()
	select {
	case <-f.headerReady:
	case <-ctx.Done():
		return
	}
	f.mu.Lock()
	status, header := f.status, f.header
	f.mu.Unlock()
	copyHeader(w.Header(), header)
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	off := 0
	for {
		chunk, done, broken, wait := f.next(off)
		if len(chunk) > 0 {
			if _, err := w.Write(chunk); err != nil {
				return // client gone
			}
			_ = rc.Flush()
			off += len(chunk)
		}
		if done { // chunk held everything up to the end
			if broken {
				// Like httputil.ReverseProxy: abort so the client sees a
				// broken stream, not a silently truncated one.
				panic(http.ErrAbortHandler)
			}
			return
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return
		}
	}
}

// hop-by-hop and semcache-internal headers never forwarded upstream.
var dropRequestHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Content-Length", "Host", "Accept-Encoding", "X-Semcache-Cache-Control", "X-Semcache-Ttl", "X-Semcache-Rag",
}

var dropResponseHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// fetch performs the upstream call of a flight and writes the answer back
// when it is complete and cacheable.
func (s *Server) fetch(ctx context.Context, f *flight, call *Call, body []byte, inHdr http.Header, log *slog.Logger) {
	defer s.flights.remove(f)
	defer f.cancel()
	m := s.engine.metrics
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.upstreamURL("/chat/completions").String(), bytes.NewReader(body))
	if err != nil {
		s.failFlight(f, "could not build upstream request")
		return
	}
	for k, vs := range inHdr {
		req.Header[k] = vs
	}
	for _, k := range dropRequestHeaders {
		req.Header.Del(k)
	}
	req.Header.Set("Content-Type", "application/json")
	s.setAuth(req.Header)
	resp, err := s.client.Do(req)
	if err != nil {
		m.UpstreamErrors.WithLabelValues("unreachable").Inc()
		log.Warn("upstream call failed", "err", err)
		s.failFlight(f, "upstream unreachable: "+errorCause(err))
		return
	}
	defer resp.Body.Close()
	hdr := resp.Header.Clone()
	for _, k := range dropResponseHeaders {
		hdr.Del(k)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	isSSE := mt == "text/event-stream"
	addSources := !isSSE && resp.StatusCode == http.StatusOK && s.engine.SourcesFieldOn() && len(call.Enrichment.Sources) > 0
	if isSSE || addSources {
		hdr.Del("Content-Length")
	}
	f.setHeader(resp.StatusCode, hdr)

	asm := cache.NewAssembler(isSSE)
	stored := false
	store := func(clean bool) {
		if stored {
			return
		}
		stored = true
		ans, asmErr := asm.Result(clean)
		s.engine.Complete(call, resp.StatusCode, ans, asmErr)
	}
	// A JSON answer is held until it is complete, so the cache has it
	// before the client does; SSE is forwarded chunk by chunk.
	holdJSON := !isSSE && resp.StatusCode == http.StatusOK
	var held []byte
	buf := make([]byte, 32<<10)
	first, last := true, start
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			now := time.Now()
			if first {
				m.UpstreamTTFT.Observe(now.Sub(start).Seconds())
				first = false
			} else if isSSE {
				m.InterToken.Observe(now.Sub(last).Seconds())
			}
			last = now
			chunk := buf[:n]
			_, _ = asm.Write(chunk)
			switch {
			case holdJSON && len(held)+n <= 8<<20:
				held = append(held, chunk...)
			case holdJSON:
				holdJSON = false // too big to hold: stream it
				f.append(held)
				held = nil
				f.append(bytes.Clone(chunk))
			default:
				if isSSE && asm.Done() {
					store(true) // before the client sees [DONE]
				}
				f.append(bytes.Clone(chunk))
			}
		}
		if rerr == nil {
			continue
		}
		clean := errors.Is(rerr, io.EOF)
		if clean {
			store(true)
		} else {
			stored = true // never store a broken answer
			m.UpstreamErrors.WithLabelValues("broken_stream").Inc()
			log.Warn("upstream body broken", "err", rerr)
			s.engine.Complete(call, resp.StatusCode, cache.Answer{}, fmt.Errorf("%w: upstream body broken", cache.ErrNotCacheable))
		}
		if len(held) > 0 {
			if addSources && clean {
				held = s.engine.WithSources(held, call.Enrichment.Sources)
			}
			f.append(held)
		}
		m.UpstreamDuration.Observe(time.Since(start).Seconds())
		f.finish(!clean)
		return
	}
}

func errorCause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if errors.Is(err, context.Canceled) {
		return "cancelled"
	}
	return err.Error()
}

func (s *Server) failFlight(f *flight, msg string) {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	f.setHeader(http.StatusBadGateway, h)
	f.append(ErrorBody(msg, "api_error", "", "upstream_unavailable"))
	f.finish(false)
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = append([]string(nil), vs...)
	}
}

func writeRaw(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
