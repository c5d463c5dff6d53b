package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/semcache/semcache/cache"
)

// errBadControl is wrapped by errors in semcache's request headers.
var errBadControl = errors.New("proxy: bad request header")

// Enricher injects retrieved context into a request before it goes
// upstream (RAG). It is optional.
type Enricher interface {
	// Enrich returns the body to send upstream (nil: send the original),
	// the ids of injected passages, and the collection version, which joins
	// the cache partition so answers built on old content are never served
	// after it changes.
	Enrich(ctx context.Context, ns string, req *cache.Request, vector []float32) (Enrichment, error)
	// Version names the content a request in ns would be enriched from
	// ("" when RAG does not apply to ns). It salts the cache key and
	// partition, so a content change makes old answers unreachable. It must
	// be cheap: it runs before every lookup.
	Version(ns string) string
}

// Enrichment is what an Enricher did to a request.
type Enrichment struct {
	Body    []byte
	Sources []string
	// Version identifies the content retrieved from; "" when nothing was
	// retrieved.
	Version string
}

// EngineOptions configure an Engine.
type EngineOptions struct {
	Cache      *cache.Cache
	Namespaces *Namespacer
	Metrics    *Metrics
	Enricher   Enricher
	Mode       cache.PromptMode
	// MaxTTL caps X-Semcache-TTL (default 30 days).
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
}

// Observer is told about each finished call, on the request path: it must
// be quick and must not modify the call or its entry.
type Observer interface {
	ObserveCall(route string, c *Call, elapsed time.Duration)
}

// Engine is the cache logic shared by the HTTP and gRPC fronts.
type Engine struct {
	cache   *cache.Cache
	ns      *Namespacer
	metrics *Metrics
	rag     Enricher
	mode    cache.PromptMode
	maxTTL  time.Duration
	sources bool
	log     *slog.Logger
	now     func() time.Time
	obs     atomic.Pointer[Observer]
}

// NewEngine validates its options.
func NewEngine(o EngineOptions) (*Engine, error) {
	var errs []error
	if o.Cache == nil {
		errs = append(errs, errors.New("proxy: engine needs a cache"))
	}
	if o.Metrics == nil {
		errs = append(errs, errors.New("proxy: engine needs metrics"))
	}
	if o.Mode == "" {
		o.Mode = cache.DefaultPromptMode
	}
	if !o.Mode.Valid() {
		errs = append(errs, fmt.Errorf("proxy: unknown prompt mode %q (want context, last or conversation)", o.Mode))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Namespaces == nil {
		o.Namespaces, _ = NewNamespacer(nil, "")
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = 30 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Metrics.WatchCache(o.Cache)
	e := &Engine{cache: o.Cache, ns: o.Namespaces, metrics: o.Metrics, rag: o.Enricher, mode: o.Mode,
		maxTTL: o.MaxTTL, sources: o.SourcesField, log: o.Logger, now: o.Now}
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

// Namespace resolves the namespace of a request from its headers, as
// Prepare does (fronts use it to label requests that fail to parse).
func (e *Engine) Namespace(h http.Header) string { return e.ns.Resolve(h) }

// Cache returns the engine's cache (for the admin API).
func (e *Engine) Cache() *cache.Cache { return e.cache }

// Metrics returns the engine's metrics.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// Controls are the per-request cache controls a client may send.
type Controls struct {
	// NoCache (Cache-Control: no-cache, or X-Semcache-Cache-Control:
	// no-cache) skips the lookup and refreshes the entry with the new answer.
	NoCache bool
	// NoStore (Cache-Control: no-store) never stores the answer.
	NoStore bool
	// TTL (X-Semcache-TTL: seconds) overrides the entry lifetime.
	TTL time.Duration
	// NoRAG (X-Semcache-RAG: off) skips context injection.
	NoRAG bool
}

// ParseControls reads the cache controls from request headers.
func ParseControls(h http.Header, maxTTL time.Duration) (Controls, error) {
	var c Controls
	// X-Semcache-Cache-Control, when present, is the only source. A plain
	// Cache-Control: no-cache next to Accept: text/event-stream is SSE
	// client boilerplate (go-openai sends it on every stream) and does not
	// bypass the cache; no-store is always honoured.
	values := h.Values("X-Semcache-Cache-Control")
	explicit := len(values) > 0
	if !explicit {
		values = h.Values("Cache-Control")
	}
	sseBoilerplate := !explicit && strings.Contains(h.Get("Accept"), "text/event-stream")
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(d)) {
			case "no-cache":
				c.NoCache = c.NoCache || !sseBoilerplate
			case "no-store":
				c.NoStore = true
			}
		}
	}
	if v := h.Get("X-Semcache-TTL"); v != "" {
		secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || secs <= 0 {
			return c, fmt.Errorf("%w: X-Semcache-TTL must be a positive number of seconds, got %q", errBadControl, v)
		}
		c.TTL = min(time.Duration(secs)*time.Second, maxTTL)
	}
	if v := h.Get("X-Semcache-RAG"); v != "" {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "off", "false", "0":
			c.NoRAG = true
		case "on", "true", "1":
		default:
			return c, fmt.Errorf("%w: X-Semcache-RAG must be on or off, got %q", errBadControl, v)
		}
	}
	return c, nil
}

// Call is one chat-completion request moving through the engine.
type Call struct {
	Start     time.Time
	Namespace string
	Request   *cache.Request
	Controls  Controls
	// Result of the lookup (zero before Lookup).
	Result cache.Result
	// Enrichment applied on a miss (zero when RAG is off or found nothing).
	Enrichment Enrichment
	// Outcome is one of the Outcome* constants once decided.
	Outcome string
	// Salt is the RAG content version joined to the cache key ("" without
	// RAG).
	Salt string
}

// Lookup lets the partition include the RAG collection version.
func (c *Call) lookup() cache.Lookup {
	return cache.Lookup{Namespace: c.Namespace, Request: c.Request, Vector: c.Result.Vector, Salt: c.Salt}
}

// Prepare parses a chat-completion body and its headers. Errors are
// *cache.RequestError or wrap errBadControl: map them with StatusOf.
func (e *Engine) Prepare(body []byte, h http.Header) (*Call, error) {
	c := &Call{Start: e.now(), Namespace: e.ns.Resolve(h)}
	ctl, err := ParseControls(h, e.maxTTL)
	if err != nil {
		return nil, err
	}
	c.Controls = ctl
	req, err := cache.ParseRequest(body, e.mode)
	if err != nil {
		return nil, err
	}
	c.Request = req
	if e.rag != nil && !ctl.NoRAG {
		c.Salt = e.rag.Version(c.Namespace)
	}
	if req.BypassReason != "" {
		c.Outcome = OutcomeBypass
	}
	return c, nil
}

// Lookup asks the cache for the call's answer and records what happened.
// It returns the hit entry, or nil on a miss or bypass.
func (e *Engine) Lookup(ctx context.Context, c *Call) *cache.Entry {
	if c.Outcome == OutcomeBypass {
		return nil
	}
	if c.Controls.NoCache {
		c.Result.Key = c.Request.SaltedKey(c.Namespace, c.Salt)
		c.Outcome = OutcomeMiss
		return nil
	}
	c.Result = e.cache.Get(ctx, c.lookup())
	e.metrics.observeLookup(&c.Result)
	if c.Result.Shadow != nil {
		e.metrics.ShadowHits.WithLabelValues(e.metrics.Namespace(c.Namespace)).Inc()
		e.metrics.Similarity.WithLabelValues("shadow").Observe(float64(c.Result.Similarity))
		e.log.Info("shadow semantic hit", "namespace", c.Namespace, "entry", c.Result.Shadow.ID,
			"similarity", c.Result.Similarity)
	}
	switch c.Result.Tier {
	case cache.TierExact:
		c.Outcome = OutcomeHitExact
	case cache.TierSemantic:
		c.Outcome = OutcomeHitSemantic
		e.metrics.Similarity.WithLabelValues("served").Observe(float64(c.Result.Similarity))
		e.log.Debug("semantic hit", "namespace", c.Namespace, "entry", c.Result.Entry.ID,
			"similarity", c.Result.Similarity, "query", c.Request.Prompt, "matched", c.Result.Entry.Prompt)
		e.cache.Alias(c.lookup(), c.Result)
	default:
		c.Outcome = OutcomeMiss
		return nil
	}
	e.metrics.recordSaved(c.Namespace, c.Result.Entry)
	return c.Result.Entry
}

// Enrich applies RAG to a missed call. It returns the body to send upstream.
// A failing retriever degrades to the original body.
func (e *Engine) Enrich(ctx context.Context, c *Call) []byte {
	if e.rag == nil || c.Controls.NoRAG || c.Outcome == OutcomeBypass {
		if e.rag != nil {
			e.metrics.RAGRetrievals.WithLabelValues("off").Inc()
		}
		return c.Request.Body
	}
	enr, err := e.rag.Enrich(ctx, c.Namespace, c.Request, c.Result.Vector)
	switch {
	case err != nil:
		e.metrics.RAGRetrievals.WithLabelValues("error").Inc()
		e.log.Warn("rag: retrieval failed, sending the request unchanged", "namespace", c.Namespace, "err", err)
		return c.Request.Body
	case enr.Body == nil:
		e.metrics.RAGRetrievals.WithLabelValues("empty").Inc()
		return c.Request.Body
	}
	e.metrics.RAGRetrievals.WithLabelValues("injected").Inc()
	e.metrics.RAGPassages.Add(float64(len(enr.Sources)))
	c.Enrichment = enr
	return enr.Body
}

// Hit is a rendered cache hit, ready for any front.
type Hit struct {
	ContentType string
	Body        []byte
	// Headers are the X-Semcache headers to add.
	Headers http.Header
}

// Render renders a hit entry for the call, as JSON or as a complete SSE
// transcript depending on the request, with a fresh id and created time.
func (e *Engine) Render(c *Call, entry *cache.Entry) Hit {
	now := e.now()
	id := cache.NewResponseID()
	h := Hit{Headers: http.Header{}}
	if c.Request.Stream {
		h.ContentType = "text/event-stream"
		h.Body = cache.RenderSSE(&entry.Answer, id, now.Unix(), c.Request.IncludeUsage)
	} else {
		h.ContentType = "application/json"
		h.Body = e.WithSources(cache.RenderJSON(&entry.Answer, id, now.Unix()), entry.Sources)
	}
	h.Headers.Set("X-Semcache", outcomeHeader(c.Outcome))
	h.Headers.Set("X-Semcache-Entry", entry.ID)
	h.Headers.Set("Age", strconv.FormatInt(int64(max(0, now.Sub(entry.CreatedAt).Seconds())), 10))
	if c.Outcome == OutcomeHitSemantic {
		h.Headers.Set("X-Semcache-Similarity", strconv.FormatFloat(float64(c.Result.Similarity), 'f', 4, 32))
	}
	if len(entry.Sources) > 0 {
		h.Headers.Set("X-Semcache-Sources", strings.Join(entry.Sources, ","))
	}
	return h
}

// WithSources adds the "semcache": {"sources": [...]} member to a JSON
// object body when the option is on and there are sources; otherwise it
// returns body unchanged.
func (e *Engine) WithSources(body []byte, sources []string) []byte {
	if !e.sources || len(sources) == 0 {
		return body
	}
	trimmed := bytes.TrimRight(body, " \t\r\n")
	if len(trimmed) < 2 || trimmed[len(trimmed)-1] != '}' {
		return body
	}
	ext, _ := json.Marshal(struct {
		Sources []string `json:"sources"`
	}{sources})
	inner := bytes.TrimRight(trimmed[:len(trimmed)-1], " \t\r\n")
	out := make([]byte, 0, len(trimmed)+len(ext)+16)
	out = append(out, inner...)
	if len(inner) > 0 && inner[len(inner)-1] != '{' {
		out = append(out, ',')
	}
	out = append(out, `"semcache":`...)
	out = append(out, ext...)
	return append(out, '}')
}

// SourcesFieldOn reports whether JSON answers carry the sources member.
func (e *Engine) SourcesFieldOn() bool { return e.sources }

// outcomeHeader maps an outcome to its X-Semcache header value.
func outcomeHeader(outcome string) string {
	switch outcome {
	case OutcomeHitExact:
		return "hit-exact"
	case OutcomeHitSemantic:
		return "hit-semantic"
	case OutcomeBypass:
		return "bypass"
	default:
		return "miss"
	}
}

// MissHeaders are the X-Semcache headers of a miss or bypass.
func (e *Engine) MissHeaders(c *Call) http.Header {
	h := http.Header{}
	h.Set("X-Semcache", outcomeHeader(c.Outcome))
	if c.Outcome != OutcomeBypass {
		h.Set("X-Semcache-Entry", c.Result.Key.EntryID())
	}
	if len(c.Enrichment.Sources) > 0 {
		h.Set("X-Semcache-Sources", strings.Join(c.Enrichment.Sources, ","))
	}
	return h
}

// Complete decides whether an upstream answer is stored and stores it. status
// is the upstream HTTP status; asmErr is the assembler's verdict.
func (e *Engine) Complete(c *Call, status int, ans cache.Answer, asmErr error) {
	switch {
	case c.Outcome == OutcomeBypass:
		return
	case status != http.StatusOK:
		e.metrics.WriteBack.WithLabelValues("error_status").Inc()
	case asmErr != nil:
		e.metrics.WriteBack.WithLabelValues("not_cacheable").Inc()
		e.log.Debug("answer not cached", "namespace", c.Namespace, "reason", asmErr)
	case c.Controls.NoStore:
		e.metrics.WriteBack.WithLabelValues("no_store").Inc()
	default:
		e.cache.Put(c.lookup(), ans, c.Result.Vector, c.Controls.TTL, c.Enrichment.Sources)
		e.metrics.WriteBack.WithLabelValues("stored").Inc()
	}
	if c.Result.Shadow != nil && status == http.StatusOK && asmErr == nil {
		go e.compareShadow(c.Namespace, c.Result.Shadow, c.Result.Similarity, ans.Content)
	}
}

// compareShadow logs and records how close a shadow hit's cached answer is
// to the answer upstream actually gave, off the request path.
func (e *Engine) compareShadow(ns string, shadow *cache.Entry, querySim float32, fresh string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sim, err := e.cache.AnswerSimilarity(ctx, shadow.Answer.Content, fresh)
	if err != nil {
		e.log.Warn("shadow comparison failed", "namespace", ns, "entry", shadow.ID, "err", err)
		return
	}
	e.metrics.ShadowAnswerSim.Observe(float64(sim))
	e.log.Info("shadow semantic hit compared", "namespace", ns, "entry", shadow.ID,
		"query_similarity", querySim, "answer_similarity", sim)
}

// Finish records the request's outcome and duration.
func (e *Engine) Finish(route string, c *Call) {
	d := e.now().Sub(c.Start)
	e.metrics.observeRequest(route, c.Namespace, c.Outcome, d)
	if o := e.obs.Load(); o != nil {
		(*o).ObserveCall(route, c, d)
	}
}
