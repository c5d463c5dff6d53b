package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/httpapi"
)

// Defaults of the HTTP front's connection and concurrency limits
// (--max-connections, --max-inflight).
const (
	// DefaultMaxConnections bounds the API listener's open connections:
	// past it new connections wait in the kernel's accept queue, so a
	// flood of idle or stalled clients cannot exhaust file descriptors.
	DefaultMaxConnections = 4096
	// DefaultMaxInFlight bounds the requests being worked on (looked up,
	// fetched, streamed) at once; past it a request gets 503 with
	// Retry-After at once. A request counts from the end of its body, so
	// slow uploads hold a connection, not a slot.
	DefaultMaxInFlight = 1024
	// DefaultMaxBodyBytesInFlight bounds the sum of the bodies of the
	// cached API requests being worked on (--max-body-inflight), from
	// reading the body to storing the answer. A request holds a multiple
	// of its body in memory while it lives (about 45 MiB at the peak for
	// an 8 MiB chat body: the body, the parsed request, the canonical
	// key), so this, not the number of requests, bounds their memory: the
	// process's peak is about ten times it (measured: 16 MiB → 300-370 MiB
	// RSS with USE-lite loaded). At 64 MiB: eight requests of the largest
	// size at once, or 600 of 100 KiB. A request that does not fit waits
	// up to the body timeout, then gets 503; smaller requests that fit go
	// first.
	DefaultMaxBodyBytesInFlight = 64 << 20
)

// retryAfterSeconds is the Retry-After of an overload 503.
const retryAfterSeconds = 1

// Listener bounds ln to the server's maximum of open connections. Serve
// the front's http.Server on it.
func (s *Server) Listener(ln net.Listener) net.Listener {
	return netutil.LimitListener(ln, s.maxConns)
}

// admit takes an in-flight slot; release gives it back. ok is false when
// every slot is taken.
func (s *Server) admit() (release func(), ok bool) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, true
	default:
		return nil, false
	}
}

// reserveBody takes room for a request body of the declared length (the
// largest accepted when it is not declared) from the in-flight body
// budget, waiting at most the body timeout. release gives it back.
func (s *Server) reserveBody(r *http.Request) (release func(), ok bool) {
	n := s.maxBody
	if r.ContentLength >= 0 && r.ContentLength < n {
		n = max(r.ContentLength, 1)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.bodyTimeout)
	defer cancel()
	if err := s.bodyBudget.acquire(ctx, n); err != nil {
		return nil, false
	}
	var once sync.Once
	return func() { once.Do(func() { s.bodyBudget.release(n) }) }, true
}

// budget is a byte budget that admits whoever fits: unlike a FIFO
// semaphore, a large request waiting for room does not hold up the small
// ones behind it.
type byteBudget struct {
	mu      sync.Mutex
	used    int64
	limit   int64
	changed chan struct{} // closed and replaced on every release
}

func newBudget(limit int64) *byteBudget {
	return &byteBudget{limit: limit, changed: make(chan struct{})}
}

// acquire takes n bytes, waiting until they fit or ctx ends.
func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// overloaded answers a request refused for want of an in-flight slot.
func (s *Server) overloaded(w http.ResponseWriter, r *http.Request, rid string) {
	s.engine.Refuse(engine.RefusedOverloaded)
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	if rid != "" {
		w.Header().Set("X-Request-Id", rid)
	}
	dropBody(w, r)
	httpapi.WriteError(w, http.StatusServiceUnavailable,
		"semcache is at its limit of requests in flight; retry shortly",
		httpapi.TypeServer, "", "overloaded")
}

// bodyDeadline bounds the read of a request body that has one: every
// request starts with it, so no body byte is ever read without a
// deadline, including what net/http drains after an early reply.
// Handlers that read the whole body clear it.
func (s *Server) bodyDeadline(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.bodyTimeout))
	}
}

// dropBody closes the connection after an early reply, without reading
// the body the client may still be sending: net/http then half-closes
// and lingers briefly, so the client reads the reply before the
// connection goes. The body deadline set on arrival bounds the one read
// this takes.
func dropBody(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	// A zero-byte MaxBytesReader marks the request as over its limit on
	// the first byte it sees: net/http then closes the connection the
	// gentle way (CloseWrite, then a short wait) instead of draining it.
	var one [1]byte
	_, _ = http.MaxBytesReader(w, r.Body, 0).Read(one[:])
}

// isTimeout reports whether err is a read deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// idleBody is a passed-through request body streamed upstream: each read
// that brings data pushes the read deadline idle further, so an upload
// may take as long as it keeps moving; a stalled one is cut. The first
// read does not push it (what it returns may have waited in the buffer
// since the request began, which set the first deadline). EOF clears the
// deadline (streams may then last as long as they need).
type idleBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	idle     time.Duration
	reads    int
	timedOut bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.reads++
	switch {
	case errors.Is(err, io.EOF):
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		b.timedOut = b.timedOut || isTimeout(err)
	case n > 0 && b.reads > 1:
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	return n, err
}

// BodyDeadline bounds the reading of request bodies for another handler
// (the admin listener): a body must keep arriving, each read within d of
// the previous one, and EOF lifts the deadline.
func BodyDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Now().Add(d))
			r.Body = &idleBody{ReadCloser: r.Body, rc: rc, idle: d}
		}
		h.ServeHTTP(w, r)
	})
}
