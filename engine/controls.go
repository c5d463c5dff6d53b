package engine

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrBadControl is wrapped by errors in semcache's request headers.
var ErrBadControl = errors.New("engine: bad request header")

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
	// MaxAge (Cache-Control: s-maxage=N, else max-age=N) serves only
	// entries younger than N seconds; HasMaxAge tells max-age=0 (serve
	// nothing, refresh) from none.
	MaxAge    time.Duration
	HasMaxAge bool
	// OnlyIfCached (Cache-Control: only-if-cached) answers a miss with 504
	// instead of calling upstream.
	OnlyIfCached bool
	// Threshold (X-Semcache-Threshold) raises the namespace's semantic
	// cut-offs for this request; see reqpolicy.go.
	Threshold Threshold
	// SubNamespace (X-Semcache-Namespace) narrows the request's namespace
	// to a sub-namespace of it.
	SubNamespace string
	// ignored records malformed optional headers (ignored, counted).
	ignored ignoredSet
}

// controlHeaders are semcache's own request headers: read here and never
// sent upstream.
var controlHeaders = []string{"X-Semcache-Cache-Control", "X-Semcache-Ttl", "X-Semcache-Rag", "X-Semcache-Feedback",
	"X-Semcache-Threshold", "X-Semcache-Namespace"}

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
	sharedAge := false
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(d, "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-cache":
				c.NoCache = c.NoCache || !sseBoilerplate
			case "no-store":
				c.NoStore = true
			case "only-if-cached":
				c.OnlyIfCached = true
			case "s-maxage", "max-age":
				shared := strings.EqualFold(strings.TrimSpace(name), "s-maxage")
				age, ok := parseAge(arg)
				switch {
				case !ok:
					c.ignored |= ignoredMaxAge
				case shared || !sharedAge:
					// semcache is a shared cache: s-maxage wins.
					c.MaxAge, c.HasMaxAge, sharedAge = age, true, shared
				}
			}
		}
	}
	if c.HasMaxAge && c.MaxAge == 0 {
		c.NoCache = true // no entry is younger than 0 s: refresh it
	}
	c.Threshold, c.ignored = parseThresholdHeader(h, c.ignored)
	sub, err := parseSubNamespace(h)
	if err != nil {
		return c, err
	}
	c.SubNamespace = sub
	if v := h.Get("X-Semcache-TTL"); v != "" {
		secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || secs <= 0 {
			return c, fmt.Errorf("%w: X-Semcache-TTL must be a positive number of seconds, got %q", ErrBadControl, v)
		}
		c.TTL = min(time.Duration(secs)*time.Second, maxTTL)
	}
	if v := h.Get("X-Semcache-RAG"); v != "" {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "off", "false", "0":
			c.NoRAG = true
		case "on", "true", "1":
		default:
			return c, fmt.Errorf("%w: X-Semcache-RAG must be on or off, got %q", ErrBadControl, v)
		}
	}
	return c, nil
}

// upstreamStorable reads the upstream's Cache-Control: an answer marked
// no-store or private is never stored (semcache is a shared cache), and
// s-maxage (else max-age) caps the entry's lifetime; a lifetime of 0 is
// not stored either. no-cache is not honoured: SSE servers send it on
// every stream to stop intermediaries from buffering (semcache's own
// replays do), not to forbid caching.
func upstreamStorable(h http.Header) (ok bool, maxAge time.Duration) {
	maxAge = -1
	shared := false
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "private":
				return false, 0
			case "s-maxage":
				if secs, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(arg), `"`), 10, 64); err == nil && secs >= 0 {
					maxAge, shared = time.Duration(secs)*time.Second, true
				}
			case "max-age":
				if secs, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(arg), `"`), 10, 64); err == nil && secs >= 0 && !shared {
					maxAge = time.Duration(secs) * time.Second
				}
			}
		}
	}
	if maxAge == 0 {
		return false, 0
	}
	if maxAge < 0 {
		maxAge = 0
	}
	return true, maxAge
}
