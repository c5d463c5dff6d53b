package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/budget"
	"github.com/semcache/semcache/rag"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/chat"
)

// DefaultMaxBodyBytes bounds a request body the fronts read and look up
// (--max-body-bytes); larger bodies get 413 (HTTP) or pass through
// uncached (Envoy).
const DefaultMaxBodyBytes = 8 << 20

// DefaultMaxTTL caps X-Semcache-TTL.
const DefaultMaxTTL = 30 * 24 * time.Hour

// Enricher injects retrieved context into a chat request before it goes
// upstream (RAG). It is optional; rag.Service implements it.
type Enricher interface {
	// Enrich returns the body to send upstream (Body nil: send the
	// original) and the ids of the injected passages.
	Enrich(ctx context.Context, ns string, req *chat.Request, vector []float32) (rag.Enrichment, error)
	// Version names the content a request in ns would be enriched from
	// ("" when RAG does not apply to ns). It salts the cache key and
	// partition, so a content change makes old answers unreachable. It must
	// be cheap: it runs before every lookup.
	Version(ns string) string
}

// Options configure an Engine.
type Options struct {
	Cache      *cache.Cache
	Namespaces *Namespacer
	Metrics    *Metrics
	Enricher   Enricher
	// Mode chooses what the similarity tier compares for conversational
	// APIs (default wire.DefaultPromptMode).
	Mode wire.PromptMode
	// Endpoints are the cached APIs (default Endpoints(Mode)).
	Endpoints []Endpoint
	// MaxTTL caps X-Semcache-TTL (default DefaultMaxTTL).
	MaxTTL time.Duration
	// SourcesField adds a top-level "semcache": {"sources": [...]} member
	// to non-stream JSON answers that RAG passages went into (off by
	// default: strict clients may reject unknown members).
	SourcesField bool
	Logger       *slog.Logger
	Now          func() time.Time
	// Observer, when set, sees every finished call (the admin dashboard's
	// top entries and recent misses).
	Observer Observer
	// ClientAuth, when set, admits only requests with one of its keys:
	// the others get a 401 from Begin, before any body is read.
	ClientAuth *ClientAuth
	// KeyHeaders are the request headers whose values join the cache key
	// and the similarity partition (nil: DefaultKeyHeaders; empty: none).
	KeyHeaders []string
	// MaxBodyBytes bounds a request body after decoding its
	// Content-Encoding (default DefaultMaxBodyBytes): a compressed body
	// never inflates past it.
	MaxBodyBytes int64
	// Budget, when set, decides the semantic hits of the namespaces that
	// have an error budget (see budget.go).
	Budget *budget.Learner
	// Rules are the cache rules (nil: none); see NewRules.
	Rules *Rules
	// Answers say how hits present themselves: the marker, their usage,
	// the pace of a replayed stream, answers per key (see answers.go).
	Answers Answers
}

// Engine owns the request lifecycle every front shares: the HTTP server
// (proxy), Envoy ext_proc and ext_authz (proxy/extproc). It routes a
// request to its API, resolves the tenant namespace, reads the cache
// controls, looks the request up, renders hits, enriches misses (RAG),
// decides what the upstream answer may be stored as and stores it, sets
// the X-Semcache headers, and records metrics and the dashboard's view.
// Fronts only move bytes: see Call for the phases they call, in order.
type Engine struct {
	cache     *cache.Cache
	metrics   *Metrics
	pol       atomic.Pointer[policy] // reloadable: see SetPolicy
	mode      wire.PromptMode
	endpoints map[string]Endpoint // by path
	sources   bool
	log       *slog.Logger
	now       func() time.Time
	obs       atomic.Pointer[Observer]
	maxBody   int64
	budget    *budget.Learner
	recent    *recentHits
	bwg       sync.WaitGroup
}

// New validates its options.
func New(o Options) (*Engine, error) {
	var errs []error
	if o.Cache == nil {
		errs = append(errs, errors.New("engine: needs a cache"))
	}
	if o.Metrics == nil {
		errs = append(errs, errors.New("engine: needs metrics"))
	}
	if o.Mode == "" {
		o.Mode = wire.DefaultPromptMode
	}
	if !o.Mode.Valid() {
		errs = append(errs, fmt.Errorf("engine: unknown prompt mode %q (want context, last or conversation)", o.Mode))
	}
	if o.Endpoints == nil {
		o.Endpoints = Endpoints(o.Mode)
	}
	eps := map[string]Endpoint{}
	for _, ep := range o.Endpoints {
		switch {
		case ep.Name == "" || ep.Parse == nil || !strings.HasPrefix(ep.Path, "/"):
			errs = append(errs, fmt.Errorf("engine: endpoint %q needs a name, a path and a parser", ep.Name))
		case eps[ep.Path].Name != "":
			errs = append(errs, fmt.Errorf("engine: two endpoints at %s", ep.Path))
		}
		eps[ep.Path] = ep
	}
	if o.MaxTTL < 0 || o.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("engine: MaxTTL and MaxBodyBytes must not be negative"))
	}
	if err := o.Answers.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Namespaces == nil {
		o.Namespaces, _ = NewNamespacer(nil, "")
	}
	if o.MaxTTL == 0 {
		o.MaxTTL = DefaultMaxTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.KeyHeaders == nil {
		o.KeyHeaders = DefaultKeyHeaders
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	o.Metrics.WatchCache(o.Cache)
	e := &Engine{cache: o.Cache, metrics: o.Metrics, mode: o.Mode, endpoints: eps,
		sources: o.SourcesField, log: o.Logger, now: o.Now, maxBody: o.MaxBodyBytes, budget: o.Budget, recent: newRecentHits()}
	e.pol.Store(&policy{ns: o.Namespaces, rag: o.Enricher, maxTTL: o.MaxTTL, auth: o.ClientAuth, keyHdrs: o.KeyHeaders, rules: o.Rules,
		answers: o.Answers})
	o.Metrics.watchRules(o.Rules)
	if o.Budget != nil {
		o.Metrics.WatchBudget(o.Budget)
	}
	e.SetObserver(o.Observer)
	return e, nil
}

// SetObserver installs the observer (nil removes it); safe while serving.
func (e *Engine) SetObserver(o Observer) {
	if o == nil {
		e.obs.Store(nil)
		return
	}
	e.obs.Store(&o)
}

// Cache returns the engine's cache (for the admin API).
func (e *Engine) Cache() *cache.Cache { return e.cache }

// Metrics returns the engine's metrics.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// Namespace resolves the namespace of a request from its headers.
func (e *Engine) Namespace(h http.Header) string { return e.pol.Load().ns.Resolve(h) }

// Endpoint returns the cached API served at a POST to path (query
// excluded), if any.
func (e *Engine) Endpoint(method, path string) (Endpoint, bool) {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	ep, ok := e.endpoints[path]
	return ep, ok && method == http.MethodPost
}

// passRoute is the route label of a passed-through path: its first
// segment after /v1 ("models", "files", …), so each API family is counted.
func passRoute(path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	p := strings.TrimPrefix(path, "/v1/")
	if p == path { // not under /v1
		return "_other"
	}
	if i := strings.IndexByte(p, '/'); i >= 0 {
		p = p[:i]
	}
	if p == "" || len(p) > 40 || strings.ContainsFunc(p, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
	}) {
		return "_other"
	}
	return p
}
