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
// Routes (all JSON unless noted). Those that read or change entries need
// the bearer token (--admin-token), and are refused (403) when no token is
// configured; stats and the dashboard's data show aggregates to anyone who
// may reach the listener (with a token configured: who sends it), and
// prompts only to a request authenticated with the token.
//
//	GET    /admin/api/stats
//	GET    /admin/api/dashboard[?namespace=NS&range=5m|1h|24h]  (prompts: authenticated only)
//	GET    /admin/api/namespaces/{ns}/entries[?q=TEXT&limit=N]
//	GET    /admin/api/namespaces/{ns}/entries/{id}
//	DELETE /admin/api/namespaces/{ns}/entries/{id}
//	DELETE /admin/api/namespaces/{ns}/entries?older_than=RFC3339|DURATION
//	DELETE /admin/api/namespaces/{ns}
//	POST   /admin/api/namespaces/{ns}/warm     (body: JSON Lines, see engine.WarmLine)
//	GET    /admin/api/namespaces/{ns}/export   (JSON Lines of cache.Entry)
//	GET    /dashboard/                         (HTML, public: it holds no data)
package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/httpapi"
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
	// Warmer stores warm files (the engine, which parses them as its
	// endpoints do); nil answers warm uploads with 501.
	Warmer Warmer
	// Budgets takes feedback and shows error budgets (the engine); nil
	// answers feedback with 501.
	Budgets Budgets
	// MaxWarmBytes bounds a warm upload (default 64 MiB).
	MaxWarmBytes int64
	// SampleEvery is the resolution of the dashboard's 5 m and 1 h
	// ranges (default 5 s), CoarseEvery that of its 24 h range (default
	// 2 min); see history.go for the memory they bound.
	SampleEvery time.Duration
	CoarseEvery time.Duration
	// HasPrices reports whether a price table is configured (the engine's
	// Metrics.HasPrices); nil: none.
	HasPrices func() bool
	Logger    *slog.Logger
	Now       func() time.Time
}

func (o *Options) validate() error {
	var errs []error
	if o.Cache == nil {
		errs = append(errs, errors.New("admin: needs a cache"))
	}
	if o.Gatherer == nil {
		errs = append(errs, errors.New("admin: needs a metrics gatherer"))
	}
	if o.MaxWarmBytes < 0 || o.SampleEvery < 0 || o.CoarseEvery < 0 {
		errs = append(errs, errors.New("admin: limits and durations must not be negative"))
	}
	if o.SampleEvery > FineRange || o.CoarseEvery > MaxRange {
		errs = append(errs, errors.New("admin: SampleEvery must be at most an hour, CoarseEvery at most a day"))
	}
	return errors.Join(errs...)
}

// Warmer stores the request/answer pairs of a JSON Lines warm file in a
// namespace (engine.Engine.Warm).
type Warmer interface {
	Warm(ctx context.Context, ns string, r io.Reader) (int, error)
}

// Admin serves the admin API and the dashboard. Close stops its sampler.
type Admin struct {
	cache       *cache.Cache
	gatherer    prometheus.Gatherer
	tracker     *Tracker
	wrap        *httpapi.Admin
	warmer      Warmer
	budgets     Budgets
	maxWarm     int64
	every       time.Duration
	coarseEvery time.Duration
	history     *history
	hasPrices   func() bool
	log         *slog.Logger
	now         func() time.Time

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New validates o, takes the first metrics sample and starts sampling.
func New(o Options) (*Admin, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.MaxWarmBytes == 0 {
		o.MaxWarmBytes = 64 << 20
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = 5 * time.Second
	}
	if o.CoarseEvery == 0 {
		o.CoarseEvery = 2 * time.Minute
	}
	if o.HasPrices == nil {
		o.HasPrices = func() bool { return false }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Admin{
		cache:       o.Cache,
		gatherer:    o.Gatherer,
		tracker:     o.Tracker,
		warmer:      o.Warmer,
		budgets:     o.Budgets,
		maxWarm:     o.MaxWarmBytes,
		every:       o.SampleEvery,
		coarseEvery: o.CoarseEvery,
		history:     newHistory(o.SampleEvery, o.CoarseEvery),
		hasPrices:   o.HasPrices,
		log:         o.Logger,
		now:         o.Now,
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	a.wrap = httpapi.NewAdmin(httpapi.AdminOptions{Token: o.Token, StatusOf: statusOf, Logger: o.Logger, Now: o.Now})
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
	a.history.add(snap, a.now())
}

// Register adds the admin API and the dashboard to mux.
func (a *Admin) Register(mux *http.ServeMux) {
	api := func(pattern string, h httpapi.Handler) {
		mux.Handle(pattern, a.wrap.Wrap(h))
	}
	open := func(pattern string, h httpapi.Handler) {
		mux.Handle(pattern, a.wrap.WrapOpen(h))
	}
	open("GET /admin/api/stats", a.handleStats)
	open("GET /admin/api/dashboard", a.handleDashboard)
	api("GET /admin/api/namespaces/{ns}/entries", a.handleList)
	api("GET /admin/api/namespaces/{ns}/entries/{id}", a.handleGetEntry)
	api("DELETE /admin/api/namespaces/{ns}/entries/{id}", a.handleDeleteEntry)
	api("DELETE /admin/api/namespaces/{ns}/entries", a.handleDeleteOlder)
	api("DELETE /admin/api/namespaces/{ns}", a.handleDeleteNamespace)
	api("POST /admin/api/namespaces/{ns}/warm", a.handleWarm)
	api("GET /admin/api/namespaces/{ns}/export", a.handleExport)
	api("POST /admin/api/feedback", a.handleFeedback)
	api("GET /admin/api/budgets", a.handleBudgets)
	open("/admin/api/", func(w http.ResponseWriter, r *http.Request) error {
		return apiError(http.StatusNotFound, "not_found", "unknown admin route "+r.Method+" "+r.URL.Path)
	})
	mux.Handle("GET /dashboard/", dashboardHandler())
	mux.Handle("GET /dashboard", http.RedirectHandler("/dashboard/", http.StatusMovedPermanently))
}

// statusOf maps the cache's errors to an HTTP status and error code.
func statusOf(err error) (int, string, bool) {
	switch {
	case errors.Is(err, cache.ErrInvalid):
		return http.StatusBadRequest, "invalid_argument", true
	case errors.Is(err, cache.ErrNotFound):
		return http.StatusNotFound, "not_found", true
	case errors.Is(err, cache.ErrNeedsDisk):
		return http.StatusNotImplemented, "needs_disk_tier", true
	}
	return 0, "", false
}

// logger returns the request's logger (with its request id).
func (a *Admin) logger(r *http.Request) *slog.Logger { return httpapi.Logger(r, a.log) }

// apiError is an error with its HTTP status and code.
func apiError(status int, code, msg string) error { return httpapi.Errorf(status, code, msg) }

func writeJSON(w http.ResponseWriter, status int, v any) { httpapi.WriteJSON(w, status, v) }
