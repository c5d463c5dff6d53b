package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/httpapi"
	"github.com/semcache/semcache/rag"
	"github.com/semcache/semcache/wire"
)

// Front describes the transport a call came through.
type Front struct {
	// Name is the front's metric label.
	Name string
	// Filter fronts sit in front of an upstream that answers every request
	// anyway (Envoy): a request the engine cannot parse passes through
	// untouched, counted as an error, instead of being refused with a 400
	// (the upstream answers it as it would without semcache).
	Filter bool
}

// The fronts semcache has.
var (
	FrontHTTP     = Front{Name: "http"}
	FrontExtProc  = Front{Name: "extproc", Filter: true}
	FrontExtAuthz = Front{Name: "extauthz", Filter: true}
)

// Call is one request moving through the engine. A front calls its phases
// in this order:
//
//	c := e.Begin(front, method, path, header) // request headers arrived
//	m := c.UpstreamHeader(header)             // changes to the request headers sent upstream
//	p := c.Plan(ctx, body, replaceable)       // the body arrived (only when c.Cached())
//	                                          // p.Reply: answer with it; else send p.Upstream
//	r := c.Upstream(status, header)           // the upstream answered
//	out, _ := c.Write(chunk)                  // each body chunk, when r.Observe
//	tail := c.Finish(clean)                   // the body ended, or broke (after every Upstream)
//	c.End()                                   // the call is over (always, exactly once)
//
// Reject replaces Plan when the body could not be read, Unreachable
// replaces Upstream when the upstream could not be reached. Coalesced
// and Recheck serve a front that shares one upstream call among identical
// requests. A Call is safe for one front goroutine plus End from another.
type Call struct {
	e     *Engine
	front Front
	start time.Time
	rid   string
	log   *slog.Logger
	ns    string
	route string
	ep    *Endpoint // nil: an API semcache passes through
	ctl   Controls
	actl  answerControls // see answers.go
	// ctlErr is a malformed control header, reported by Plan.
	ctlErr error
	// routeID is the route identity (authority, key headers) that salts
	// the keys; encoding the request body's Content-Encoding.
	routeID, encoding string
	// refused is the reply to a request the client authentication
	// refused.
	refused *Reply

	mu      sync.Mutex
	req     Request
	items   []cache.Lookup
	results []cache.Result
	hits    []*cache.Entry  // per item; nil for a miss
	served  []*cache.Answer // the answers a full hit served (an entry's variant)
	missing []int           // items asked upstream
	outcome string
	reason  string
	salt    string
	enrich  rag.Enrichment
	pol     *policy
	header  http.Header // engine headers of the client's response
	budget  budgetCall
	rp      reqPolicy // freshness, raised cut-offs, cache rules (reqpolicy.go)

	// response side
	sentAt    time.Time
	status    int
	ttlCap    time.Duration // the upstream's max-age
	observe   bool
	body      *observedBody
	stream    bool
	hold      bool // a JSON answer is held until it is complete
	held      []byte
	sources   bool // add the sources member to the held JSON
	merge     bool // rebuild a batch reply from hits and fetched answers
	fill      bool // the key keeps more answers than it has: fetch one more
	decided   bool // the write-back decision is made
	finished  bool
	firstByte bool
	// firstToken: the first content of a stream was timed
	firstToken bool
	lastByte   time.Time
	ended      bool
}

// Begin starts a call when a request's headers have arrived: it routes
// the request, assigns its request id and resolves its namespace.
func (e *Engine) Begin(f Front, method, path string, h http.Header) *Call {
	return e.BeginRequest(f, Target{Method: method, Path: path}, h)
}

// Target is a request's method and path and, from fronts that route by
// it (Envoy), its :authority, which then joins the cache key.
type Target struct {
	Method, Authority, Path string
}

// BeginRequest is Begin with the whole target. A request the client
// authentication refuses gets its reply from Refused.
func (e *Engine) BeginRequest(f Front, t Target, h http.Header) *Call {
	method, path := t.Method, t.Path
	pol := e.pol.Load() // the whole call keeps the policy it began with
	c := &Call{e: e, pol: pol, front: f, start: e.now(), rid: httpapi.RequestID(h), ns: pol.ns.Resolve(h)}
	c.log = e.log.With("request_id", c.rid)
	if ep, ok := e.Endpoint(method, path); ok {
		c.ep, c.route = &ep, ep.Name
		c.ctl, c.ctlErr = ParseControls(h, pol.maxTTL)
		var aerr error
		c.actl, aerr = parseAnswerControls(h)
		c.ctlErr = errors.Join(c.ctlErr, aerr)
		c.ns = subNamespace(c.ns, c.ctl.SubNamespace)
		c.countIgnored()
		c.outcome = OutcomeMiss
		c.routeID = routeIdentity(t.Authority, pol.keyHdrs, h)
		c.encoding = strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
	} else {
		c.route, c.outcome, c.reason = passRoute(path), OutcomeBypass, "not cached: "+method+" "+path
	}
	c.header = http.Header{"X-Request-Id": {c.rid}}
	c.feedbackHeader(h)
	if c.ep == nil {
		c.header.Set("X-Semcache", "bypass")
	}
	if pol.auth != nil && !pol.auth.Allowed(h) {
		c.refuse()
	}
	return c
}

// Cached reports whether the request is one of the cached APIs: the front
// must then deliver its body to Plan.
func (c *Call) Cached() bool { return c.ep != nil }

// UpstreamPath is the path (with its query, if any) a passed-through
// request goes upstream with: an API may translate ids semcache minted
// (GET /v1/responses/{id} of a replayed hit names the response the
// upstream stored). Cached requests keep theirs.
func (c *Call) UpstreamPath(path string) string {
	if c.ep != nil {
		return path
	}
	p, query, hasQuery := strings.Cut(path, "?")
	for _, ep := range c.e.endpoints {
		if ep.UpstreamPath == nil {
			continue
		}
		if np, ok := ep.UpstreamPath(p); ok {
			if hasQuery {
				np += "?" + query
			}
			return np
		}
	}
	return path
}

// RequestID is the call's request id (the client's X-Request-Id when it
// sent a usable one).
func (c *Call) RequestID() string { return c.rid }

// Logger is the call's logger, with its request id.
func (c *Call) Logger() *slog.Logger { return c.log }

// HeaderMutation changes a set of headers.
type HeaderMutation struct {
	Set    http.Header
	Remove []string
}

// Apply changes h.
func (m HeaderMutation) Apply(h http.Header) {
	for _, k := range m.Remove {
		h.Del(k)
	}
	for k, vs := range m.Set {
		h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
}

// UpstreamHeader says how the request headers h change on their way
// upstream: semcache's control headers stay here, the request id goes
// along, and a cached API's Accept-Encoding is dropped so the answer comes
// back in a form that can be assembled.
func (c *Call) UpstreamHeader(h http.Header) HeaderMutation {
	m := HeaderMutation{}
	drop := append(controlHeaders[:len(controlHeaders):len(controlHeaders)], answerHeaders...)
	if c.ep != nil {
		drop = append([]string{"Accept-Encoding"}, drop...)
	}
	for _, k := range drop {
		if _, ok := h[http.CanonicalHeaderKey(k)]; ok {
			m.Remove = append(m.Remove, k)
		}
	}
	if h.Get("X-Request-Id") != c.rid {
		m.Set = http.Header{"X-Request-Id": {c.rid}}
	}
	return m
}

// Plan is what to do with a request whose body arrived.
type Plan struct {
	// Reply, when set, answers the client without the upstream: a hit, or
	// an error.
	Reply *Reply
	// Upstream, when Reply is nil, is the request to send upstream.
	Upstream *Upstream
	// CoalesceKey names identical upstream calls that may be shared; ""
	// when this one must not be.
	CoalesceKey string
}

// Reply is a complete response to the client.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
	// Pace, for a text/event-stream body, is how long a front that can
	// stream a reply waits between its events (0: send it at once; see
	// Answers.Pace).
	Pace time.Duration
}

// Upstream is a request to send upstream.
type Upstream struct {
	// Body replaces the request body when not nil (RAG context, a batch's
	// missing items).
	Body []byte
	// Header goes on the client's response whatever the upstream answers
	// (X-Semcache, X-Semcache-Entry, X-Request-Id, …).
	Header http.Header
}

// Plan looks the request up and decides: a reply from the cache, or the
// request to send upstream. replaceable tells whether the front can still
// replace the body (Envoy cannot once streamed chunks went upstream);
// without it there is no RAG injection and a batch is asked whole.
func (c *Call) Plan(ctx context.Context, body []byte, replaceable bool) Plan {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused != nil {
		return Plan{Reply: c.refused}
	}
	if c.ep == nil {
		return Plan{Upstream: &Upstream{Header: c.header.Clone()}}
	}
	if c.ctlErr != nil {
		return c.invalid(c.ctlErr)
	}
	body, err := decodeBody(c.encoding, body, c.e.maxBody)
	if err != nil {
		return c.invalid(err)
	}
	// A decoded body goes upstream decoded (every upstream reads plain
	// JSON), when the front can replace it.
	decoded := c.encoding != "" && c.encoding != "identity"
	plain := func(up []byte) []byte {
		if up == nil && replaceable && decoded {
			return body
		}
		return up
	}
	req, err := c.ep.Parse(body)
	if err != nil {
		return c.invalid(err)
	}
	c.req = req
	c.items = req.Items()
	enrichable := false
	if _, ok := req.(Enrichable); ok && c.pol.rag != nil && !c.ctl.NoRAG {
		enrichable = true
		c.salt = c.pol.rag.Version(cache.ParentNamespace(c.ns))
	}
	c.salt = joinSalt(c.salt, c.routeID)
	for i := range c.items {
		c.items[i].Namespace, c.items[i].Salt = c.ns, c.salt
	}
	c.results = make([]cache.Result, len(c.items))
	c.hits = make([]*cache.Entry, len(c.items))
	r := req.Bypass()
	if r == "" {
		r = c.applyRules(body)
	}
	if r != "" {
		c.outcome, c.reason = OutcomeBypass, r
		c.header.Set("X-Semcache", "bypass")
		if c.ctl.OnlyIfCached {
			return c.onlyIfCached()
		}
		up := &Upstream{Header: c.header.Clone()}
		if replaceable {
			up.Body = c.upstreamBody(nil)
		}
		up.Body = plain(up.Body)
		c.sentAt = c.e.now()
		return Plan{Upstream: up}
	}
	c.lookupPolicy()
	c.lookup(ctx)
	if len(c.missing) == 0 {
		if reply := c.render(); reply != nil {
			return Plan{Reply: reply}
		}
		c.missing = allItems(len(c.items)) // unrenderable: fetch afresh
	}
	if c.ctl.OnlyIfCached {
		return c.onlyIfCached()
	}
	if len(c.missing) < len(c.items) && !replaceable {
		c.missing = allItems(len(c.items)) // cannot ask for the rest only
	}
	for _, i := range c.missing {
		c.hits[i] = nil
	}
	c.merge = len(c.missing) < len(c.items)
	c.outcome = OutcomeMiss
	if c.merge {
		c.outcome = OutcomeHitPartial
	}
	up := &Upstream{}
	if enrichable && replaceable {
		up.Body = c.enrichBody(ctx)
	}
	if up.Body == nil && replaceable {
		up.Body = c.upstreamBody(c.missing)
	}
	up.Body = plain(up.Body)
	c.missHeaders()
	up.Header = c.header.Clone()
	c.sentAt = c.e.now()
	return Plan{Upstream: up, CoalesceKey: c.coalesceKey(body)}
}

func allItems(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// upstreamBody asks the request for its body for the missing items (nil:
// the body as it came).
func (c *Call) upstreamBody(missing []int) []byte {
	if missing == nil {
		missing = allItems(len(c.items))
	}
	b, err := c.req.UpstreamBody(missing)
	if err != nil {
		c.log.Warn("engine: could not build the upstream body, sending the request whole", "err", err)
		return nil
	}
	return b
}

// invalid handles a request that cannot be parsed: refused with an
// OpenAI error, or passed through untouched by a filter front.
func (c *Call) invalid(err error) Plan {
	c.outcome, c.reason = OutcomeError, err.Error()
	if c.front.Filter {
		c.log.Info("engine: request not understood, passing it through", "route", c.route, "err", err)
		return Plan{Upstream: &Upstream{Header: http.Header{"X-Request-Id": {c.rid}}}}
	}
	reply := c.errorReply(err)
	c.log.Info("engine: bad request", "route", c.route, "status", reply.Status, "err", err)
	return Plan{Reply: &reply}
}

// Reject replaces Plan for a request whose body could not be read (too
// large, broken). It returns the reply, or nil from a filter front: the
// request then passes through uncached (counted as a bypass).
func (c *Call) Reject(err error) *Reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.front.Filter {
		c.outcome, c.reason = OutcomeBypass, "body not looked up: "+err.Error()
		c.log.Info("engine: request body not looked up, passing it through", "route", c.route, "err", err)
		return nil
	}
	c.outcome, c.reason = OutcomeError, err.Error()
	r := c.errorReply(err)
	return &r
}

func (c *Call) errorReply(err error) Reply {
	status, body := ErrorReply(err)
	return Reply{Status: status, Header: http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {c.rid}}, Body: body}
}

// ErrorReply maps an error to an HTTP status and an OpenAI error body: the
// one place errors become wire errors.
func ErrorReply(err error) (status int, body []byte) {
	var re *wire.RequestError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &re):
		return http.StatusBadRequest, httpapi.Error(re.Message, httpapi.TypeInvalidRequest, re.Param, "invalid_request")
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, httpapi.Error(
			"request body exceeds the limit of "+strconv.FormatInt(mbe.Limit, 10)+" bytes", httpapi.TypeInvalidRequest, "", "request_too_large")
	case errors.Is(err, ErrUnsupportedEncoding):
		return http.StatusUnsupportedMediaType, httpapi.Error(err.Error(), httpapi.TypeInvalidRequest, "", "unsupported_encoding")
	case errors.Is(err, ErrBodyTimeout):
		return http.StatusRequestTimeout, httpapi.Error(ErrBodyTimeout.Error(), httpapi.TypeInvalidRequest, "", "request_timeout")
	case errors.Is(err, ErrNotAllowed):
		return http.StatusNotFound, httpapi.Error(err.Error(), httpapi.TypeInvalidRequest, "", "unknown_url")
	case errors.Is(err, ErrBadPath):
		return http.StatusBadRequest, httpapi.Error(err.Error(), httpapi.TypeInvalidRequest, "", "invalid_path")
	case errors.Is(err, ErrUnreadableBody):
		return http.StatusBadRequest, httpapi.Error(ErrUnreadableBody.Error(), httpapi.TypeInvalidRequest, "", "body_read_error")
	case errors.Is(err, ErrBadControl):
		return http.StatusBadRequest, httpapi.Error(err.Error(), httpapi.TypeInvalidRequest, "", "invalid_header")
	case errors.Is(err, errCacheMiss):
		return cacheMissReply()
	case errors.Is(err, errUnreachable):
		return http.StatusBadGateway, httpapi.Error(err.Error(), httpapi.TypeAPI, "", "upstream_unavailable")
	default:
		return http.StatusInternalServerError, httpapi.Error("internal error", httpapi.TypeServer, "", "")
	}
}

// lookup asks the cache for every item and records what happened.
func (c *Call) lookup(ctx context.Context) {
	c.missing = c.missing[:0]
	if c.ctl.NoCache {
		c.reason = "no_cache"
		for i := range c.items {
			c.results[i].Key = c.items[i].ExactKey()
			c.missing = append(c.missing, i)
		}
		return
	}
	m := c.e.metrics
	semantic := false
	for i := range c.items {
		c.budgetFloor(i)
		res := c.e.cache.Get(ctx, c.items[i])
		m.observeLookup(c.ns, &res)
		c.budgetDecide(i, &res)
		c.results[i] = res
		if res.Shadow != nil {
			m.ShadowHits.WithLabelValues(m.Namespace(c.ns)).Inc()
			m.Similarity.WithLabelValues(m.Namespace(c.ns), "shadow").Observe(float64(res.Similarity))
			c.log.Info("shadow semantic hit", "namespace", c.ns, "entry", res.Shadow.ID, "similarity", res.Similarity)
		}
		switch {
		case res.Tier == cache.TierExact && c.filling(res.Entry):
			c.missing = append(c.missing, i) // one more answer for the key
			c.fill = true
		case res.Tier == cache.TierExact:
			c.hits[i] = res.Entry
		case res.Tier == cache.TierSemantic:
			c.hits[i] = res.Entry
			semantic = true
			m.Similarity.WithLabelValues(m.Namespace(c.ns), "served").Observe(float64(res.Similarity))
			c.log.Debug("semantic hit", "namespace", c.ns, "entry", res.Entry.ID, "similarity", res.Similarity,
				"query", c.items[i].Prompt, "matched", res.Entry.Prompt)
			c.e.cache.Alias(c.items[i], res)
		default:
			c.missing = append(c.missing, i)
		}
	}
	if semantic {
		c.outcome = OutcomeHitSemantic
	} else {
		c.outcome = OutcomeHitExact
	}
	c.reason = missReason(c.results)
	if c.fill {
		c.reason = "variant"
	}
	c.budgetReason()
}

// missReason says why the first item missed.
func missReason(rs []cache.Result) string {
	for _, r := range rs {
		switch {
		case r.Entry != nil:
			continue
		case r.Shadow != nil:
			return "shadow"
		case r.Stale:
			return "stale"
		case len(r.Rejections) > 0:
			return "rejected"
		case r.EmbedErr != nil || r.SearchErr != nil:
			return "degraded"
		case r.Skipped != "":
			return r.Skipped
		}
		return "new"
	}
	return ""
}

// render replays the hits as the reply; nil when a stored answer cannot
// be rendered (the call then fetches afresh).
func (c *Call) render() *Reply {
	now := c.e.now()
	var sources []string
	for _, e := range c.hits {
		sources = append(sources, e.Sources...)
	}
	p := c.pick(now, sources)
	c.served = p.answers
	ct, body, err := c.req.Render(p.answers, p.opts)
	if err != nil {
		c.log.Warn("engine: stored answer cannot be rendered, fetching afresh", "err", err)
		return nil
	}
	h := http.Header{"Content-Type": {ct}, "X-Request-Id": {c.rid}}
	reply := &Reply{Status: http.StatusOK, Header: h}
	if r := c.rp.rule; r != nil {
		h.Set("X-Semcache-Rule", r.name)
	}
	if ct == "text/event-stream" {
		h.Set("Cache-Control", "no-cache")
		reply.Pace = c.pol.answers.Pace
	}
	h.Set("X-Semcache", outcomeHeader(c.outcome))
	age := time.Duration(0)
	for i, e := range c.hits {
		c.e.metrics.recordSaved(c.ns, e, p.answers[i])
		age = max(age, now.Sub(e.CreatedAt))
	}
	h.Set("Age", strconv.FormatInt(int64(max(0, age.Seconds())), 10))
	if len(c.hits) == 1 {
		h.Set("X-Semcache-Entry", c.hits[0].ID)
		if c.outcome == OutcomeHitSemantic {
			h.Set("X-Semcache-Similarity", strconv.FormatFloat(float64(c.results[0].Similarity), 'f', 4, 32))
			h.Set("X-Semcache-Score", strconv.FormatFloat(float64(c.results[0].Score), 'f', 6, 32))
		}
		if p.variant != "" {
			h.Set("X-Semcache-Variant", p.variant)
		}
	} else {
		h.Set("X-Semcache-Hits", fmt.Sprintf("%d/%d", len(c.hits), len(c.hits)))
	}
	if len(sources) > 0 {
		h.Set("X-Semcache-Sources", strings.Join(sources, ","))
		if ct == "application/json" && p.opts.Marker == nil {
			body = c.e.withSources(body, sources)
		}
	}
	c.header = h
	reply.Body = body
	return reply
}

// missHeaders sets the headers of a miss, a partial hit or a bypass.
func (c *Call) missHeaders() {
	h := c.header
	h.Set("X-Semcache", outcomeHeader(c.outcome))
	if len(c.items) == 1 {
		h.Set("X-Semcache-Entry", c.results[0].Key.EntryID())
	}
	if c.merge {
		h.Set("X-Semcache-Hits", fmt.Sprintf("%d/%d", len(c.items)-len(c.missing), len(c.items)))
	}
	if len(c.enrich.Sources) > 0 {
		h.Set("X-Semcache-Sources", strings.Join(c.enrich.Sources, ","))
	}
}

// coalesceKey names the upstream call: the same items asked the same
// way, in the same bytes. The body is in it so that requests that differ
// only in fields outside the cache key that still reach the upstream
// (user, metadata, store, safety_identifier, …) never share a call: each
// such request makes its own, and the upstream sees every one.
func (c *Call) coalesceKey(body []byte) string {
	if c.ctl.NoStore {
		return ""
	}
	h := sha256.New()
	bs := sha256.Sum256(body)
	h.Write(bs[:])
	h.Write([]byte(c.route))
	for _, i := range c.missing {
		k := c.results[i].Key
		h.Write(k[:])
	}
	h.Write([]byte{0})
	for i := range c.items {
		k := c.results[i].Key
		h.Write(k[:])
	}
	h.Write([]byte(c.req.Variant()))
	return hex.EncodeToString(h.Sum(nil))
}

// enrichBody applies RAG to a missed chat call; nil keeps the body. A
// failing retriever degrades to the original body.
func (c *Call) enrichBody(ctx context.Context) []byte {
	m := c.e.metrics
	cr := c.req.(Enrichable).ChatRequest()
	enr, err := c.pol.rag.Enrich(ctx, cache.ParentNamespace(c.ns), cr, c.results[0].Vector)
	switch {
	case err != nil:
		m.RAGRetrievals.WithLabelValues("error").Inc()
		c.log.Warn("rag: retrieval failed, sending the request unchanged", "namespace", c.ns, "err", err)
		return nil
	case enr.Body == nil:
		m.RAGRetrievals.WithLabelValues("empty").Inc()
		return nil
	}
	m.RAGRetrievals.WithLabelValues("injected").Inc()
	m.RAGPassages.Add(float64(len(enr.Sources)))
	c.enrich = enr
	return enr.Body
}

// Coalesced marks a call that shares another call's upstream request and
// returns the header that says so.
func (c *Call) Coalesced() http.Header {
	c.e.metrics.Coalesced.WithLabelValues(c.e.metrics.Namespace(c.ns)).Inc()
	return http.Header{"X-Semcache-Coalesced": {"true"}}
}

// Recheck looks a planned miss up again, in the exact tier, just before
// its upstream call: an answer stored since Plan (by an identical call
// that just finished) is then served instead of fetched twice.
func (c *Call) Recheck(ctx context.Context) *Reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.req == nil || c.outcome == OutcomeBypass || c.ctl.NoCache || len(c.missing) != len(c.items) {
		return nil
	}
	for i := range c.items {
		l := c.items[i]
		l.SkipSemantic = true
		res := c.e.cache.Get(ctx, l)
		if res.Tier != cache.TierExact || c.filling(res.Entry) {
			return nil
		}
		c.hits[i] = res.Entry
	}
	outcome, missing := c.outcome, c.missing
	c.outcome, c.missing = OutcomeHitExact, nil
	reply := c.render()
	if reply == nil {
		c.outcome, c.missing = outcome, missing
	}
	return reply
}

var errUnreachable = errors.New("upstream unreachable")

// ErrUnreadableBody is wrapped by a front's error reading a request body.
var ErrUnreadableBody = errors.New("could not read the request body")

// ErrBodyTimeout is wrapped by a front's error when the request body did
// not arrive within its time limit (408).
var ErrBodyTimeout = errors.New("the request body did not arrive in time")

// Unreachable answers a call whose upstream could not be reached (it
// replaces Upstream, Write and Finish).
func (c *Call) Unreachable(cause string) Reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.e.metrics.upstreamError(c.ns, "unreachable")
	c.log.Warn("upstream call failed", "cause", cause)
	if c.outcome != OutcomeBypass {
		c.outcome = OutcomeError
	}
	reply := c.errorReply(fmt.Errorf("%w: %s", errUnreachable, cause))
	for k, vs := range c.header {
		if reply.Header.Get(k) == "" {
			reply.Header[k] = vs
		}
	}
	return reply
}

// Response says how the upstream's response changes on its way to the
// client.
type Response struct {
	// Header is set on the client's response.
	Header http.Header
	// Remove lists headers of the upstream's response to drop
	// (Content-Length when the body is rewritten).
	Remove []string
	// Observe asks for every body chunk through Write.
	Observe bool
}

// Upstream is told the upstream's status and headers and decides whether
// the answer is observed (to store it, or to rewrite it).
func (c *Call) Upstream(status int, h http.Header) Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status = status
	c.e.metrics.observeUpstream(c.ns, status)
	resp := Response{Header: c.header.Clone()}
	if c.req == nil || c.outcome == OutcomeBypass || c.decided {
		c.decided = true
		return resp
	}
	if strings.HasPrefix(strings.ToLower(h.Get("X-Semcache")), "hit") {
		// A reply a cache already served (our own local reply coming back
		// through Envoy's response path, or a semcache upstream): never
		// stored again, and its own headers stand.
		c.decided = true
		return Response{}
	}
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	c.stream = mt == "text/event-stream"
	sources := !c.stream && status == http.StatusOK && c.e.sources && len(c.enrich.Sources) > 0
	merge := c.merge && status == http.StatusOK
	switch storable, maxAge := upstreamStorable(h); {
	case status != http.StatusOK:
		c.decide("error_status", nil)
	case c.ctl.NoStore:
		c.decide("no_store", nil)
	case c.rp.rule != nil && c.rp.rule.action == RuleNoStore:
		c.decide("rule_no_store", nil)
	case !storable:
		c.decide("upstream_no_store", nil)
	default:
		c.ttlCap = maxAge
	}
	if c.decided && !merge && !sources {
		return resp
	}
	body, err := newObservedBody(c.req.Assembler(c.stream, c.missing), h.Get("Content-Encoding"))
	if err != nil {
		c.decide("not_cacheable", err)
		if !merge {
			return resp
		}
		body = nil // the merge fails at Finish
	}
	c.body, c.observe = body, true
	c.hold = !c.stream
	c.merge, c.sources = merge, sources && body != nil && !body.gzip
	if c.merge || c.sources {
		resp.Remove = append(resp.Remove, "Content-Length")
		if c.merge {
			resp.Remove = append(resp.Remove, "Content-Encoding")
		}
	}
	resp.Observe = true
	return resp
}

// decide records the write-back decision that needs no answer.
func (c *Call) decide(result string, err error) {
	if c.decided {
		return
	}
	c.decided = true
	c.e.metrics.WriteBackSkipped.WithLabelValues(result).Inc()
	if err != nil {
		c.log.Debug("answer not cached", "namespace", c.ns, "reason", err)
	}
}

// Write observes one chunk of the upstream body and returns what the
// client gets in its place; replaced is false when that is p itself.
func (c *Call) Write(p []byte) (out []byte, replaced bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.observe || c.finished {
		return p, false
	}
	now := c.e.now()
	m := c.e.metrics
	if !c.firstByte {
		c.firstByte = true
		if !c.stream {
			m.UpstreamFirstByte.WithLabelValues(m.Namespace(c.ns)).Observe(now.Sub(c.sentAt).Seconds())
		}
	} else if c.stream {
		m.InterToken.WithLabelValues(m.Namespace(c.ns)).Observe(now.Sub(c.lastByte).Seconds())
	}
	c.lastByte = now
	if c.body != nil {
		c.body.write(p)
		if c.stream && !c.firstToken && c.body.contentStarted() {
			c.firstToken = true
			m.UpstreamFirstToken.WithLabelValues(m.Namespace(c.ns)).Observe(now.Sub(c.sentAt).Seconds())
		}
	}
	if c.hold {
		if len(c.held)+len(p) <= wire.MaxAnswerBytes {
			c.held = append(c.held, p...)
			return nil, true
		}
		// Too big to hold (and to store): pass it on as it comes.
		out := append(c.held, p...)
		c.held, c.hold, c.sources = nil, false, false
		if c.merge {
			c.merge = false
			c.log.Warn("engine: batch answer too large to merge, passing it through")
		}
		return out, true
	}
	if c.stream && c.body != nil && c.body.asm.Complete() {
		c.writeBack(true) // before the client sees the end of the stream
	}
	return p, false
}

// Finish ends the upstream body: clean tells whether it ended normally. It
// makes the write-back decision (if not made yet) and returns the bytes
// the client still gets: a held JSON answer (with the RAG sources member),
// or a batch reply rebuilt from the hits and the fetched answers.
func (c *Call) Finish(clean bool) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return nil
	}
	c.finished = true
	m := c.e.metrics
	if !c.sentAt.IsZero() {
		m.UpstreamDuration.WithLabelValues(m.Namespace(c.ns)).Observe(c.e.now().Sub(c.sentAt).Seconds())
	}
	if !clean {
		m.upstreamError(c.ns, "broken_stream")
		c.log.Warn("upstream body broken")
	}
	if !c.observe {
		c.decide("not_cacheable", wire.NotCacheable("body ended before the answer did"))
		return nil
	}
	fresh := c.writeBack(clean)
	switch {
	case c.merge:
		return c.merged(fresh)
	case c.hold:
		out := c.held
		c.held = nil
		if c.sources && clean {
			out = c.e.withSources(out, c.enrich.Sources)
		}
		return out
	}
	return nil
}

// writeBack decides and stores the fetched answers; it returns them when
// they are complete.
func (c *Call) writeBack(clean bool) []cache.Answer {
	if c.body == nil {
		c.decide("not_cacheable", nil)
		return nil
	}
	answers, err := c.body.answers(clean)
	if err == nil && len(answers) != len(c.missing) {
		err = wire.NotCacheable("%d answers for %d items", len(answers), len(c.missing))
	}
	c.budgetObserve(answers, err)
	if c.decided {
		return okAnswers(answers, err)
	}
	switch {
	case err != nil:
		c.decide("not_cacheable", err)
	default:
		c.decided = true
		ttl := c.ctl.TTL
		if c.ttlCap > 0 {
			if ttl <= 0 {
				ttl = c.e.cache.TTL()
			}
			ttl = min(ttl, c.ttlCap)
		}
		for n, i := range c.missing {
			c.put(i, answers[n], ttl)
		}
	}
	if len(c.results) == 1 && c.results[0].Shadow != nil && err == nil {
		go c.e.compareShadow(c.ns, c.results[0].Shadow, c.results[0].Similarity, answers[0].Text)
	}
	return okAnswers(answers, err)
}

func okAnswers(a []cache.Answer, err error) []cache.Answer {
	if err != nil {
		return nil
	}
	return a
}

// merged renders a batch reply from the hits and the fetched answers.
func (c *Call) merged(fresh []cache.Answer) []byte {
	if fresh == nil {
		c.log.Warn("engine: the upstream answer to a partial hit could not be read")
		return httpapi.Error("semcache: the upstream answer could not be merged with the cached items", httpapi.TypeAPI, "", "upstream_mismatch")
	}
	answers := make([]*cache.Answer, len(c.items))
	for i, e := range c.hits {
		if e != nil {
			answers[i] = &e.Answer
			c.e.metrics.recordSaved(c.ns, e, &e.Answer)
		}
	}
	for n, i := range c.missing {
		answers[i] = &fresh[n]
	}
	_, body, err := c.req.Render(answers, c.mergedOptions(c.e.now()))
	if err != nil {
		c.log.Warn("engine: merged reply cannot be rendered", "err", err)
		return httpapi.Error("semcache: the cached items could not be rendered", httpapi.TypeServer, "", "")
	}
	return body
}

// End finishes the call: metrics and the observer. Call it exactly once,
// however the call ended.
func (c *Call) End() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	d := c.e.now().Sub(c.start)
	outcome, items, hits := c.outcome, len(c.items), 0
	for _, e := range c.hits {
		if e != nil {
			hits++
		}
	}
	o := c.e.obs.Load()
	var s *Summary
	if o != nil {
		s = c.summary(d)
	}
	c.mu.Unlock()
	m := c.e.metrics
	m.observeRequest(c.front.Name, c.route, c.ns, outcome, d)
	if items > 1 {
		m.Items.WithLabelValues(c.route, "hit").Add(float64(hits))
		m.Items.WithLabelValues(c.route, "miss").Add(float64(items - hits))
	}
	if o != nil {
		(*o).ObserveCall(s)
	}
}

func (c *Call) summary(d time.Duration) *Summary {
	s := &Summary{Front: c.front.Name, Route: c.route, Namespace: c.ns, RequestID: c.rid, Outcome: c.outcome,
		Reason: c.reason, Elapsed: d, Items: len(c.items)}
	if c.req != nil {
		s.Prompt = c.req.Summary()
		if len(c.items) > 0 {
			s.Model = c.items[0].Model
		}
	}
	for _, e := range c.hits {
		if e != nil {
			s.Hits++
		}
	}
	if len(c.results) > 0 {
		r := c.results[0]
		switch {
		case s.Outcome == OutcomeHitExact || s.Outcome == OutcomeHitSemantic:
			if len(c.hits) == 1 {
				s.Entry, s.Similarity = c.hits[0], r.Similarity
				if len(c.served) == 1 {
					s.Answer = c.served[0]
				}
			}
		case r.Shadow != nil:
			s.Similarity = r.Similarity
		case len(r.Rejections) > 0:
			s.Similarity, s.RejectedFor = r.Rejections[0].Score, r.Rejections[0].Reason
		}
	}
	if s.Outcome == OutcomeHitExact || s.Outcome == OutcomeHitSemantic {
		s.Reason = ""
	}
	return s
}

// outcomeHeader maps an outcome to its X-Semcache header value.
func outcomeHeader(outcome string) string {
	switch outcome {
	case OutcomeHitExact:
		return "hit-exact"
	case OutcomeHitSemantic:
		return "hit-semantic"
	case OutcomeHitPartial:
		return "hit-partial"
	case OutcomeBypass:
		return "bypass"
	default:
		return "miss"
	}
}

// withSources adds the "semcache": {"sources": [...]} member to a JSON
// object body when the option is on; otherwise it returns body unchanged.
func (e *Engine) withSources(body []byte, sources []string) []byte {
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

// compareShadow logs and records how close a shadow hit's cached answer is
// to the answer upstream actually gave, off the request path.
func (e *Engine) compareShadow(ns string, shadow *cache.Entry, querySim float32, fresh string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sim, err := e.cache.AnswerSimilarity(ctx, shadow.Answer.Text, fresh)
	if err != nil {
		e.log.Warn("shadow comparison failed", "namespace", ns, "entry", shadow.ID, "err", err)
		return
	}
	e.metrics.ShadowAnswerSim.Observe(float64(sim))
	e.log.Info("shadow semantic hit compared", "namespace", ns, "entry", shadow.ID,
		"query_similarity", querySim, "answer_similarity", sim)
}

// Outcome is the call's outcome so far (one of the Outcome* constants).
func (c *Call) Outcome() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outcome
}
