// Package admin is semcache's admin listener beyond /metrics: a JSON API to
// inspect and manage the cache (stats; list, search, delete, warm and
// export the entries of a namespace) and a built-in dashboard page.
//
// The dashboard is a static page embedded in the binary that polls
// /admin/api/dashboard every two seconds. That endpoint is computed here
// from the same Prometheus registry /metrics serves, plus an in-process
// history of samples (for the "over time" charts) and a Tracker fed by the
// engine (top cached entries, recent misses).
//
// Routes (all JSON unless noted; /admin/api/* need the bearer token when
// one is configured):
//
//	GET    /admin/api/stats
//	GET    /admin/api/dashboard[?namespace=NS]
//	GET    /admin/api/namespaces/{ns}/entries[?q=TEXT&limit=N]
//	GET    /admin/api/namespaces/{ns}/entries/{id}
//	DELETE /admin/api/namespaces/{ns}/entries/{id}
//	DELETE /admin/api/namespaces/{ns}/entries?older_than=RFC3339|DURATION
//	DELETE /admin/api/namespaces/{ns}
//	POST   /admin/api/namespaces/{ns}/warm     (body: JSON Lines, see cache.WarmLine)
//	GET    /admin/api/namespaces/{ns}/export   (JSON Lines of cache.Entry)
//	GET    /dashboard/                         (HTML, public: it holds no data)
package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/cache"
)

// Options configure the admin API and dashboard.
type Options struct {
	// Cache is the cache to administer (required).
	Cache *cache.Cache
	// Gatherer is the registry /metrics serves; the dashboard reads it
	// (required).
	Gatherer prometheus.Gatherer
	// Tracker feeds the dashboard's top entries and recent misses; install
	// it as the engine's observer. Nil leaves those panels empty.
	Tracker *Tracker
	// Token, when set, must be sent as "Authorization: Bearer <token>" to
	// every /admin/api/ route.
	Token string
	// Mode is how warm requests are parsed; it must match the engine's
	// (default cache.PromptLastMessage).
	Mode cache.PromptMode
	// MaxWarmBytes bounds a warm upload (default 64 MiB).
	MaxWarmBytes int64
	// SampleEvery is the resolution of the dashboard's time series
	// (default 5 s); History is how far back they reach (default 15 min).
	SampleEvery time.Duration
	History     time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

func (o *Options) validate() error {
	var errs []error
	if o.Cache == nil {
		errs = append(errs, errors.New("admin: needs a cache"))
	}
	if o.Gatherer == nil {
		errs = append(errs, errors.New("admin: needs a metrics gatherer"))
	}
	if o.Mode != "" && !o.Mode.Valid() {
		errs = append(errs, fmt.Errorf("admin: unknown prompt mode %q", o.Mode))
	}
	if o.MaxWarmBytes < 0 || o.SampleEvery < 0 || o.History < 0 {
		errs = append(errs, errors.New("admin: limits and durations must not be negative"))
	}
	if o.SampleEvery > 0 && o.History > 0 && o.History < o.SampleEvery {
		errs = append(errs, errors.New("admin: History must be at least SampleEvery"))
	}
	return errors.Join(errs...)
}

// Admin serves the admin API and the dashboard. Close stops its sampler.
type Admin struct {
	cache    *cache.Cache
	gatherer prometheus.Gatherer
	tracker  *Tracker
	token    [32]byte
	hasToken bool
	mode     cache.PromptMode
	maxWarm  int64
	every    time.Duration
	history  *history
	log      *slog.Logger
	now      func() time.Time

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New validates o, takes the first metrics sample and starts sampling.
func New(o Options) (*Admin, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Mode == "" {
		o.Mode = cache.DefaultPromptMode
	}
	if o.MaxWarmBytes == 0 {
		o.MaxWarmBytes = 64 << 20
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = 5 * time.Second
	}
	if o.History == 0 {
		o.History = 15 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Admin{
		cache:    o.Cache,
		gatherer: o.Gatherer,
		tracker:  o.Tracker,
		mode:     o.Mode,
		maxWarm:  o.MaxWarmBytes,
		every:    o.SampleEvery,
		history:  newHistory(int(o.History/o.SampleEvery) + 1),
		log:      o.Logger,
		now:      o.Now,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if o.Token != "" {
		a.token, a.hasToken = sha256.Sum256([]byte(o.Token)), true
	}
	a.sample()
	go a.sampler()
	return a, nil
}

// Close stops the sampler.
func (a *Admin) Close() error {
	a.closeOnce.Do(func() {
		close(a.stop)
		<-a.done
	})
	return nil
}

func (a *Admin) sampler() {
	defer close(a.done)
	t := time.NewTicker(a.every)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.sample()
		}
	}
}

// sample records the current counters in the history.
func (a *Admin) sample() {
	snap, err := readSnapshot(a.gatherer)
	if err != nil {
		a.log.Warn("admin: reading metrics failed", "err", err)
		return
	}
	a.history.add(snap.point(a.now()))
}

// Register adds the admin API and the dashboard to mux.
func (a *Admin) Register(mux *http.ServeMux) {
	api := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, a.wrap(h))
	}
	api("GET /admin/api/stats", a.handleStats)
	api("GET /admin/api/dashboard", a.handleDashboard)
	api("GET /admin/api/namespaces/{ns}/entries", a.handleList)
	api("GET /admin/api/namespaces/{ns}/entries/{id}", a.handleGetEntry)
	api("DELETE /admin/api/namespaces/{ns}/entries/{id}", a.handleDeleteEntry)
	api("DELETE /admin/api/namespaces/{ns}/entries", a.handleDeleteOlder)
	api("DELETE /admin/api/namespaces/{ns}", a.handleDeleteNamespace)
	api("POST /admin/api/namespaces/{ns}/warm", a.handleWarm)
	api("GET /admin/api/namespaces/{ns}/export", a.handleExport)
	api("/admin/api/", func(w http.ResponseWriter, r *http.Request) error {
		return &apiError{status: http.StatusNotFound, code: "not_found",
			msg: "unknown admin route " + r.Method + " " + r.URL.Path}
	})
	mux.Handle("GET /dashboard/", dashboardHandler())
	mux.Handle("GET /dashboard", http.RedirectHandler("/dashboard/", http.StatusMovedPermanently))
}

// apiError is an error with its HTTP status, made at the edge.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// ErrorBody is the JSON of every admin API error.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong.
type ErrorDetail struct {
	Message string `json:"message"`
	Code    string `json:"code"`
}

// statusOf maps an error to its HTTP status and code.
func statusOf(err error) (int, string) {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.code
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, cache.ErrInvalid):
		return http.StatusBadRequest, "invalid_argument"
	case errors.Is(err, cache.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, cache.ErrNeedsDisk):
		return http.StatusNotImplemented, "needs_disk_tier"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "cancelled"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

// statusWriter records the status for the access log; Unwrap keeps
// http.ResponseController (Flush) working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type ctxKey struct{}

// logger returns the request's logger (with its request id).
func (a *Admin) logger(r *http.Request) *slog.Logger {
	if l, ok := r.Context().Value(ctxKey{}).(*slog.Logger); ok {
		return l
	}
	return a.log
}

// wrap adds authentication, a request id, an access log and error
// rendering to an API handler.
func (a *Admin) wrap(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := a.now()
		rid := requestID(r)
		w.Header().Set("X-Request-Id", rid)
		w.Header().Set("Cache-Control", "no-store")
		log := a.log.With("request_id", rid)
		sw := &statusWriter{ResponseWriter: w}
		var err error
		if a.authorized(r) {
			err = h(sw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, log)))
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="semcache admin"`)
			err = &apiError{status: http.StatusUnauthorized, code: "unauthorized", msg: "missing or wrong admin token (Authorization: Bearer <token>)"}
		}
		if err != nil {
			status, code := statusOf(err)
			if sw.status == 0 {
				writeJSON(sw, status, ErrorBody{Error: ErrorDetail{Message: err.Error(), Code: code}})
			}
			if status >= 500 {
				log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
			}
		}
		level := slog.LevelDebug
		if r.Method != http.MethodGet || sw.status >= 400 {
			level = slog.LevelInfo
		}
		log.Log(r.Context(), level, "admin request", "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration", a.now().Sub(start))
	})
}

// authorized checks the bearer token in constant time (over hashes, so
// the token's length does not leak either).
func (a *Admin) authorized(r *http.Request) bool {
	if !a.hasToken {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	return subtle.ConstantTimeCompare(sum[:], a.token[:]) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{Error: ErrorDetail{Message: "admin: encode response: " + err.Error(), Code: "internal"}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
