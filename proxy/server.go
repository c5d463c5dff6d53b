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
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/httpapi"
)

// Defaults of the HTTP front's transport limits.
const (
	// DefaultBodyReadTimeout bounds reading a request body.
	DefaultBodyReadTimeout = 30 * time.Second
	// DefaultUpstreamTimeout bounds one upstream call from start to the end
	// of its body (--upstream-timeout).
	DefaultUpstreamTimeout = 10 * time.Minute
)

// ServerOptions configure the HTTP front.
type ServerOptions struct {
	Engine *engine.Engine
	// Upstream is the base URL of the OpenAI-compatible API, e.g.
	// https://api.openai.com/v1. Request paths /v1/X go to Upstream + /X.
	Upstream *url.URL
	// UpstreamKey, when set, replaces the client's credential upstream.
	UpstreamKey string
	// MaxBodyBytes bounds the request bodies of cached APIs (default
	// engine.DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// BodyReadTimeout bounds reading a request body (default
	// DefaultBodyReadTimeout).
	BodyReadTimeout time.Duration
	// UpstreamTimeout bounds one upstream call (default
	// DefaultUpstreamTimeout).
	UpstreamTimeout time.Duration
	// CompleteOnDisconnect keeps reading an upstream answer after every
	// client went away, so it can still be cached. Off: the upstream call is
	// cancelled.
	CompleteOnDisconnect bool
	// MaxConnections bounds the open connections of the listener given to
	// Listener (default DefaultMaxConnections).
	MaxConnections int
	// MaxInFlight bounds the requests worked on at once; past it a
	// request gets 503 with Retry-After (default DefaultMaxInFlight).
	MaxInFlight int
	// MaxBodyBytesInFlight bounds the sum of the cached APIs' request
	// bodies being read and worked on (default
	// DefaultMaxBodyBytesInFlight, and at least MaxBodyBytes).
	MaxBodyBytesInFlight int64
	// Passthrough is the allow-list of paths relayed uncached (default
	// engine.DefaultPassthrough); others get 404.
	Passthrough *engine.Passthrough
	// SpeculativeUpstream, when positive, starts the upstream call of a
	// request whose lookup has not decided within it, in parallel with the
	// lookup; a hit that arrives first cancels it (a cancelled call may
	// still be billed for its prompt tokens: they are counted). Off (0) by
	// default. The HTTP front only: behind Envoy, the upstream call is
	// Envoy's, made after ext_proc answers.
	SpeculativeUpstream time.Duration
	// Transport talks to the upstream (default: a tuned http.Transport).
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// Server is the OpenAI-compatible HTTP front.
type Server struct {
	engine      *engine.Engine
	up          atomic.Pointer[upstreamTarget] // reloadable: see SetUpstream
	maxBody     int64
	bodyTimeout time.Duration
	upTimeout   time.Duration
	// speculateAfter is ServerOptions.SpeculativeUpstream.
	speculateAfter time.Duration
	client         *http.Client
	flights        *flights
	passthrough    *httputil.ReverseProxy
	pass           *engine.Passthrough
	maxConns       int
	slots          chan struct{}
	bodyBudget     *byteBudget
	log            *slog.Logger
	mux            *http.ServeMux
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
	if o.MaxBodyBytes < 0 || o.BodyReadTimeout < 0 || o.UpstreamTimeout < 0 || o.MaxConnections < 0 || o.MaxInFlight < 0 ||
		o.MaxBodyBytesInFlight < 0 || o.SpeculativeUpstream < 0 {
		errs = append(errs, errors.New("proxy: limits and timeouts must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = engine.DefaultMaxBodyBytes
	}
	if o.BodyReadTimeout == 0 {
		o.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if o.UpstreamTimeout == 0 {
		o.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.MaxBodyBytesInFlight == 0 {
		o.MaxBodyBytesInFlight = DefaultMaxBodyBytesInFlight
	}
	// The largest body must fit, or it would wait forever.
	o.MaxBodyBytesInFlight = max(o.MaxBodyBytesInFlight, o.MaxBodyBytes)
	if o.Passthrough == nil {
		o.Passthrough, _ = engine.NewPassthrough(engine.DefaultPassthrough)
	}
	if o.Transport == nil {
		o.Transport = newTransport()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		engine:         o.Engine,
		maxBody:        o.MaxBodyBytes,
		bodyTimeout:    o.BodyReadTimeout,
		upTimeout:      o.UpstreamTimeout,
		speculateAfter: o.SpeculativeUpstream,
		client:         &http.Client{Transport: o.Transport},
		flights:        &flights{m: map[string]*flight{}, keepOnDisconnect: o.CompleteOnDisconnect},
		pass:           o.Passthrough,
		maxConns:       o.MaxConnections,
		slots:          make(chan struct{}, o.MaxInFlight),
		bodyBudget:     newBudget(o.MaxBodyBytesInFlight),
		log:            o.Logger,
	}
	o.Engine.Serve(engine.FrontHTTP)
	s.up.Store(&upstreamTarget{url: o.Upstream, key: o.UpstreamKey})
	if o.SpeculativeUpstream > 0 {
		o.Engine.EnableSpeculation()
	}
	s.passthrough = &httputil.ReverseProxy{
		Rewrite:        s.rewritePassthrough,
		FlushInterval:  -1,
		Transport:      o.Transport,
		ModifyResponse: s.passResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			call := callOf(r)
			if b, ok := r.Body.(*idleBody); ok && b.timedOut {
				// The client stalled its upload, not the upstream.
				reply := call.Reject(fmt.Errorf("%w: %w", engine.ErrBodyTimeout, err))
				call.End()
				w.Header().Set("Connection", "close")
				writeReply(w, reply)
				return
			}
			reply := call.Unreachable(errorCause(err))
			call.End()
			writeReply(w, &reply)
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/", s.handle)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		dropBody(w, r)
		httpapi.WriteError(w, http.StatusNotFound, "unknown path "+r.URL.Path+"; semcache serves the OpenAI API under /v1/",
			httpapi.TypeInvalidRequest, "", "not_found")
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
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.bodyDeadline(w, r)
	s.mux.ServeHTTP(w, r)
}

// HTTPServer wraps the handler with slowloris-safe server timeouts.
// There is no WriteTimeout or ReadTimeout: streams may be long, and
// request bodies get their own deadline in the handler. Serve it on
// Listener(ln), which bounds its connections.
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

// upstreamTarget is where requests go upstream, and with which key.
type upstreamTarget struct {
	url *url.URL
	key string
}

// SetUpstream points requests that start from now on at another upstream
// (key "" forwards the client's credential); requests under way finish
// with the upstream they started with. Safe while serving.
func (s *Server) SetUpstream(u *url.URL, key string) error {
	if u == nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("proxy: upstream must be an absolute http(s) URL")
	}
	s.up.Store(&upstreamTarget{url: u, key: key})
	return nil
}

func (s *Server) upstreamURL(path string) *url.URL {
	u := *s.up.Load().url
	u.Path = strings.TrimSuffix(u.Path, "/") + strings.TrimPrefix(path, "/v1")
	u.RawPath = ""
	return &u
}

func (s *Server) setAuth(h http.Header) {
	if key := s.up.Load().key; key != "" {
		h.Set("Authorization", "Bearer "+key)
		h.Del("Api-Key")
	}
}

type callKey struct{}

func callOf(r *http.Request) *engine.Call { return r.Context().Value(callKey{}).(*engine.Call) }

// handle serves every /v1/ request: the cached APIs through the engine's
// phases, everything else reverse-proxied.
func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if err := engine.CheckPath(r.URL.Path, r.URL.EscapedPath()); err != nil {
		s.engine.Refuse(engine.RefusedBadPath)
		status, body := engine.ErrorReply(err)
		dropBody(w, r)
		writeReply(w, &engine.Reply{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: body})
		return
	}
	call := s.engine.Begin(engine.FrontHTTP, r.Method, r.URL.Path, r.Header)
	// The call ends just before the client gets its last byte, so its
	// metrics and dashboard entry are recorded by the time the client has
	// the answer. End is idempotent; the deferred call covers early exits.
	defer call.End()
	if reply := call.Refused(); reply != nil {
		// Refused before any work: the body is never read.
		call.End()
		dropBody(w, r)
		writeReply(w, reply)
		return
	}
	if !call.Cached() {
		s.relay(w, r, call)
		return
	}
	if r.ContentLength > s.maxBody {
		// Refused on its declared length: not a byte of it is read.
		reply := call.Reject(&http.MaxBytesError{Limit: s.maxBody})
		call.End()
		dropBody(w, r)
		writeReply(w, reply)
		return
	}
	releaseBody, ok := s.reserveBody(r)
	if !ok {
		s.overloaded(w, r, call.RequestID())
		return
	}
	// The budget covers the request's whole life: its body, the parsed
	// request and the canonical key live until the answer is stored.
	defer releaseBody()

	body, err := readBody(w, r, s.maxBody)
	if err != nil {
		// The body deadline stays: net/http drains nothing more, and the
		// connection closes after the reply.
		w.Header().Set("Connection", "close")
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
		case isTimeout(err):
			err = fmt.Errorf("%w: %w", engine.ErrBodyTimeout, err)
		default:
			err = fmt.Errorf("%w: %w", engine.ErrUnreadableBody, err)
		}
		reply := call.Reject(err)
		call.End()
		writeReply(w, reply)
		return
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	release, ok := s.admit()
	if !ok {
		s.overloaded(w, r, call.RequestID())
		return
	}
	defer release()
	hdr := r.Header.Clone()
	call.UpstreamHeader(r.Header).Apply(hdr)
	plan, spec := s.plan(r, call, body, hdr)
	if plan.Reply != nil {
		spec.abandon(call, body)
		call.End()
		writeHit(r.Context(), w, plan.Reply)
		return
	}
	up := plan.Upstream
	upBody := body
	if up.Body != nil {
		if !bytes.Equal(up.Body, body) {
			spec.abandon(call, body) // it sent another body
			spec = nil
		}
		upBody = up.Body
		hdr.Del("Content-Encoding") // the engine's body is plain
	}

	fkey := plan.CoalesceKey
	if fkey == "" {
		fkey = "solo:" + call.RequestID() + ":" + hex.EncodeToString(randBytes(8))
	}
	// The upstream call belongs to the flight, not to the client that
	// started it: it runs until it is done, or its time is up, or the
	// last of its clients has left (flights.leave).
	f, fctx, leader := s.flights.join(fkey, func() (context.Context, context.CancelFunc) {
		if spec != nil {
			return spec.ctx, spec.cancel
		}
		return context.WithTimeout(context.Background(), s.upTimeout)
	})
	own := up.Header
	switch {
	case !leader:
		spec.abandon(call, body) // an identical call is in flight
		copyHeader(own, call.Coalesced())
	case plan.CoalesceKey != "":
		if reply := call.Recheck(r.Context()); reply != nil {
			// Stored since the lookup: serve it, and so do the followers.
			spec.abandon(call, body)
			own = reply.Header
			f.setHeader(reply.Status, reply.Header, true)
			f.append(reply.Body)
			s.flights.remove(f)
			f.finish(false)
			f.cancel()
			break
		}
		fallthrough
	default:
		s.fetchAndServe(w, r, fctx, f, call, upBody, hdr, own, spec)
		return
	}
	s.serveFlight(w, r, f, own, call.End)
}

// fetchAndServe makes a flight's upstream call on the leader's own
// goroutine and writes the answer to the leader's client as it arrives
// (no hand-off to another goroutine on the miss path); followers replay
// the flight as usual. The call still belongs to the flight: when the
// leader's client goes away it is cancelled only if no follower is left
// (and not with --complete-on-disconnect), and it goes on otherwise.
func (s *Server) fetchAndServe(w http.ResponseWriter, r *http.Request, fctx context.Context, f *flight, call *engine.Call,
	body []byte, hdr http.Header, own http.Header, spec *speculation) {
	leave := sync.OnceFunc(func() { s.flights.leave(f) })
	stop := context.AfterFunc(r.Context(), leave)
	lead := &leadWriter{w: w, rc: http.NewResponseController(w), own: own, end: call.End, length: -1}
	f.lead = lead
	s.fetch(fctx, f, call, r.URL.Path, body, hdr, spec)
	stop()
	leave()
	if lead.broken && !lead.gone {
		// Like httputil.ReverseProxy: abort so the client sees a broken
		// stream, not a silently truncated one.
		panic(http.ErrAbortHandler)
	}
}

// leadWriter writes a flight to its leader's client, on the goroutine
// that fetches it. With a declared length, the bytes that complete the
// body wait until the call has ended, so its metrics and dashboard entry
// are recorded by the time the client has the answer (as in serveFlight).
type leadWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	own     http.Header
	end     func()
	length  int64 // declared Content-Length, -1 when none
	off     int64
	pending []byte
	gone    bool // the client went away: nothing more is written
	broken  bool
}

func (l *leadWriter) header(status int, h http.Header) {
	copyHeader(l.w.Header(), h)
	copyHeader(l.w.Header(), l.own)
	if v := h.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			l.length = n
		}
	}
	l.w.WriteHeader(status)
}

func (l *leadWriter) write(p []byte) {
	if l.gone || len(p) == 0 {
		return
	}
	if l.length >= 0 && l.off+int64(len(p)) >= l.length {
		l.pending = append(l.pending, p...)
		l.off += int64(len(p))
		return
	}
	l.off += int64(len(p))
	l.send(p)
}

func (l *leadWriter) send(p []byte) {
	if _, err := l.w.Write(p); err != nil {
		l.gone = true // client gone
		return
	}
	_ = l.rc.Flush()
}

func (l *leadWriter) finish(broken bool) {
	l.end()
	l.broken = broken
	if !l.gone && len(l.pending) > 0 {
		l.send(l.pending)
	}
	l.pending = nil
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// serveFlight replays a flight's response to one client and follows it
// live. own are the call's engine headers; end runs before the last bytes
// are written.
func (s *Server) serveFlight(w http.ResponseWriter, r *http.Request, f *flight, own http.Header, end func()) {
	defer s.flights.leave(f)
	ctx := r.Context()
	select {
	case <-f.headerReady:
	case <-ctx.Done():
		return
	}
	f.mu.Lock()
	status, header, fromCache := f.status, f.header, f.fromCache
	f.mu.Unlock()
	copyHeader(w.Header(), header)
	if fromCache {
		w.Header().Set("X-Request-Id", own.Get("X-Request-Id"))
		if v := own.Get("X-Semcache-Coalesced"); v != "" {
			w.Header().Set("X-Semcache-Coalesced", v)
		}
	} else {
		copyHeader(w.Header(), own)
	}
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	// With a declared length the client knows the body is over with its
	// last byte: that byte waits until the call has ended, so its metrics
	// and dashboard entry are recorded by then.
	length := int64(-1)
	if v := header.Get("Content-Length"); v != "" {
		length, _ = strconv.ParseInt(v, 10, 64)
	}
	off := 0
	for {
		chunk, done, broken, wait := f.next(off)
		if !done && length >= 0 && int64(off+len(chunk)) >= length && len(chunk) > 0 {
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return
			}
		}
		if done {
			end()
		}
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

// hop-by-hop headers never forwarded.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// readBuffers hold the 32 KiB buffers upstream bodies are read with.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// fetch performs the upstream call of a flight, passing the answer through
// the engine.
func (s *Server) fetch(ctx context.Context, f *flight, call *engine.Call, path string, body []byte, hdr http.Header, spec *speculation) {
	defer s.flights.remove(f)
	defer f.cancel()
	var resp *http.Response
	var err error
	if spec != nil {
		// Started while the lookup was deciding; its context is the
		// flight's.
		<-spec.done
		resp, err = spec.resp, spec.err
		call.Speculated(engine.SpeculationUsed, body)
	} else {
		resp, err = s.roundTrip(ctx, path, body, hdr)
	}
	if err != nil {
		s.failFlight(f, call, errorCause(err))
		return
	}
	defer resp.Body.Close()
	out := resp.Header // ours: changed in place
	for _, k := range hopHeaders {
		out.Del(k)
	}
	r := call.Upstream(resp.StatusCode, out)
	for _, k := range r.Remove {
		out.Del(k)
	}
	if engine.IsEventStream(resp.Header) {
		out.Del("Content-Length") // relayed event by event
	}
	f.setHeader(resp.StatusCode, out, false)
	bp := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if r.Observe {
				chunk, _ = call.Write(chunk)
			}
			if len(chunk) > 0 {
				f.append(chunk) // copied into the flight
			}
		}
		if rerr == nil {
			continue
		}
		clean := errors.Is(rerr, io.EOF)
		if !clean {
			call.Logger().Warn("upstream body broken", "err", rerr)
		}
		f.append(call.Finish(clean))
		// Forgotten before it is finished: a request that arrives once the
		// flight is over starts its own (and finds the stored answer)
		// instead of replaying this one.
		s.flights.remove(f)
		f.finish(!clean)
		return
	}
}

// roundTrip sends a request body upstream with the headers hdr (which it
// changes: hop-by-hop headers out, the upstream key in).
func (s *Server) roundTrip(ctx context.Context, path string, body []byte, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.upstreamURL(path).String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("proxy: could not build the upstream request: %w", err)
	}
	req.Header = hdr
	for _, k := range hopHeaders {
		req.Header.Del(k)
	}
	req.Header.Del("Content-Length")
	req.Header.Del("Host")
	req.Header.Set("Content-Type", "application/json")
	s.setAuth(req.Header)
	return s.client.Do(req)
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

func (s *Server) failFlight(f *flight, call *engine.Call, cause string) {
	reply := call.Unreachable(cause)
	h := reply.Header.Clone()
	h.Del("X-Request-Id") // each client keeps its own
	f.setHeader(reply.Status, h, false)
	f.append(reply.Body)
	s.flights.remove(f)
	f.finish(false)
}

// rewritePassthrough sends a call semcache does not cache to the upstream.
func (s *Server) rewritePassthrough(pr *httputil.ProxyRequest) {
	pr.Out.URL = s.upstreamURL(callOf(pr.In).UpstreamPath(pr.In.URL.Path))
	pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	pr.Out.Host = ""
	s.setAuth(pr.Out.Header)
}

// passResponse adds the engine's headers to a passed-through response and
// ends its call (the duration of a passed-through call is its time to the
// response headers).
func (s *Server) passResponse(resp *http.Response) error {
	call := callOf(resp.Request)
	r := call.Upstream(resp.StatusCode, resp.Header)
	for _, k := range r.Remove {
		resp.Header.Del(k)
	}
	copyHeader(resp.Header, r.Header)
	call.End()
	return nil
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = append([]string(nil), vs...)
	}
}

func writeReply(w http.ResponseWriter, r *engine.Reply) {
	copyHeader(w.Header(), r.Header)
	w.Header().Set("Content-Length", fmt.Sprint(len(r.Body)))
	w.WriteHeader(r.Status)
	_, _ = w.Write(r.Body)
}

// relay passes a request semcache does not cache to the upstream, when its
// path is on the allow-list.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, call *engine.Call) {
	if _, ok := s.engine.Endpoint(http.MethodPost, r.URL.Path); ok {
		w.Header().Set("Allow", "POST")
		w.Header().Set("X-Request-Id", call.RequestID())
		dropBody(w, r)
		httpapi.WriteError(w, http.StatusMethodNotAllowed, "use POST for "+r.URL.Path, httpapi.TypeInvalidRequest, "", "method_not_allowed")
		return
	}
	if !s.pass.Allowed(r.URL.Path) {
		s.engine.Refuse(engine.RefusedNotAllowed)
		reply := call.Reject(fmt.Errorf("%w: %s %s", engine.ErrNotAllowed, r.Method, r.URL.Path))
		call.End()
		dropBody(w, r)
		writeReply(w, reply)
		return
	}
	release, ok := s.admit()
	if !ok {
		s.overloaded(w, r, call.RequestID())
		return
	}
	defer release()
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: s.bodyTimeout}
	}
	call.UpstreamHeader(r.Header).Apply(r.Header)
	s.passthrough.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, call)))
	call.Finish(true)
}

// readBody reads a request body up to limit bytes (a *http.MaxBytesError
// past it), in one allocation when the client said its length.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	n := int64(bytes.MinRead)
	if r.ContentLength > 0 {
		// Room for the body and the final read that sees EOF, so the
		// buffer never doubles at the end.
		n = min(r.ContentLength, limit) + bytes.MinRead
	}
	buf := bytes.NewBuffer(make([]byte, 0, n))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	return buf.Bytes(), err
}
