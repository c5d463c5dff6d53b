package engine

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/semcache/semcache/httpapi"
)

// ClientAuth is the API's own client authentication (--client-auth): only
// requests carrying one of its keys (Authorization: Bearer, or api-key)
// get past Begin; the others get a 401 before their body is read. Keys are
// kept as SHA-256 hashes and compared in constant time.
type ClientAuth struct {
	hashes [][32]byte
}

// NewClientAuth validates the allowed keys: raw, or "sha256:<64 hex>" so
// a config file need not hold secrets.
func NewClientAuth(keys []string) (*ClientAuth, error) {
	a := &ClientAuth{}
	var errs []error
	for i, k := range keys {
		var h [32]byte
		if hx, ok := strings.CutPrefix(k, "sha256:"); ok {
			b, err := hex.DecodeString(hx)
			if err != nil || len(b) != 32 {
				errs = append(errs, fmt.Errorf("client key %d: sha256 key must be 64 hex digits", i))
				continue
			}
			copy(h[:], b)
		} else {
			if strings.TrimSpace(k) == "" {
				errs = append(errs, fmt.Errorf("client key %d is empty", i))
				continue
			}
			h = sha256.Sum256([]byte(strings.TrimSpace(k)))
		}
		a.hashes = append(a.hashes, h)
	}
	if len(keys) == 0 {
		errs = append(errs, errors.New("client auth needs at least one key"))
	}
	return a, errors.Join(errs...)
}

// Allowed reports whether the request's credential is one of the keys.
// Every key is compared, so the time taken does not say which matched.
func (a *ClientAuth) Allowed(h http.Header) bool {
	tok := bearer(h)
	if tok == "" {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	ok := 0
	for i := range a.hashes {
		ok |= subtle.ConstantTimeCompare(sum[:], a.hashes[i][:])
	}
	return ok == 1
}

// DefaultKeyHeaders are the request headers that join the cache key and
// the similarity partition unless the config's key_headers says
// otherwise: headers that choose the upstream's project, organisation or
// route when the upstream is OpenAI or another gateway, so an answer
// fetched through one route is never served for another. Header names are
// case-insensitive; a request without any of them keys as before.
var DefaultKeyHeaders = []string{
	"OpenAI-Organization",
	"OpenAI-Project",
	"X-Route",
	"X-Upstream",
	"X-Backend",
	"X-Portkey-Provider",
	"X-Portkey-Config",
	"X-Portkey-Virtual-Key",
}

// routeIdentity is the part of a request outside its body that chooses
// where it is answered: the :authority an Envoy front routes on and the
// values of the key headers. "" when none is present, so requests without
// them keep their keys.
func routeIdentity(authority string, keyHeaders []string, h http.Header) string {
	var b strings.Builder
	if authority != "" {
		b.WriteString("authority=")
		b.WriteString(strings.ToLower(authority))
		b.WriteByte(0)
	}
	for _, k := range keyHeaders {
		vs := h.Values(k)
		if len(vs) == 0 {
			continue
		}
		b.WriteString(strings.ToLower(k))
		b.WriteByte('=')
		b.WriteString(strings.Join(vs, ","))
		b.WriteByte(0)
	}
	if b.Len() == 0 {
		return ""
	}
	sum := sha256.Sum256([]byte(b.String()))
	return "route:" + hex.EncodeToString(sum[:16])
}

// joinSalt joins the salts of a request (the RAG version, the route);
// empty parts are left out so an unsalted request keeps its key.
func joinSalt(parts ...string) string {
	parts = slices.DeleteFunc(parts, func(s string) bool { return s == "" })
	return strings.Join(parts, "\x00")
}

// ErrBadPath is wrapped by CheckPath's errors.
var ErrBadPath = errors.New("engine: bad request path")

// CheckPath validates a decoded request path before a front forwards it:
// it must be absolute, and no segment may be "." or ".." (after percent
// decoding: "/v1/%2e%2e/x" would otherwise leave the upstream's base
// path), hold an encoded slash or backslash, or a control character.
// rawPath is the path as it came on the wire (r.URL.EscapedPath()), or ""
// when the front only has the decoded one.
func CheckPath(path, rawPath string) error {
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("%w: %q is not absolute", ErrBadPath, path)
	}
	low := strings.ToLower(rawPath)
	if strings.Contains(low, "%2f") || strings.Contains(low, "%5c") || strings.Contains(low, "%00") {
		return fmt.Errorf("%w: encoded slash, backslash or NUL", ErrBadPath)
	}
	if strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return fmt.Errorf("%w: control character or backslash", ErrBadPath)
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%w: dot segment", ErrBadPath)
		}
	}
	return nil
}

// DefaultPassthrough are the paths the HTTP front passes through
// uncached (the cached APIs aside): the OpenAI API's public resources,
// each with everything below it. The organization admin API
// (/v1/organization/…) is not among them. The config's passthrough list
// replaces it; an empty list passes nothing through.
var DefaultPassthrough = []string{
	"/v1/models",
	"/v1/moderations",
	"/v1/images",
	"/v1/audio",
	"/v1/files",
	"/v1/uploads",
	"/v1/batches",
	"/v1/fine_tuning",
	"/v1/vector_stores",
	"/v1/assistants",
	"/v1/threads",
	"/v1/responses",
	"/v1/conversations",
	"/v1/chat/completions",
	"/v1/completions",
	"/v1/embeddings",
	"/v1/evals",
	"/v1/containers",
	"/v1/realtime",
	"/v1/videos",
}

// ErrNotAllowed is a path the passthrough allow-list does not hold
// (404).
var ErrNotAllowed = errors.New("engine: not on semcache's passthrough allow-list")

// Passthrough decides which paths the HTTP front relays uncached.
type Passthrough struct {
	prefixes []string
}

// NewPassthrough validates an allow-list of path prefixes: each absolute,
// clean, under /v1/. A prefix allows itself and every path below it.
func NewPassthrough(prefixes []string) (*Passthrough, error) {
	var errs []error
	p := &Passthrough{}
	for _, x := range prefixes {
		x = strings.TrimSuffix(x, "/")
		if !strings.HasPrefix(x, "/v1/") || CheckPath(x, x) != nil || strings.ContainsAny(x, "?#*") {
			errs = append(errs, fmt.Errorf("passthrough %q: want a clean path under /v1/, such as /v1/models", x))
			continue
		}
		p.prefixes = append(p.prefixes, x)
	}
	return p, errors.Join(errs...)
}

// Allowed reports whether path (clean, query excluded) may be relayed.
func (p *Passthrough) Allowed(path string) bool {
	for _, x := range p.prefixes {
		if path == x || strings.HasPrefix(path, x) && path[len(x)] == '/' {
			return true
		}
	}
	return false
}

// Refusal reasons of semcache_refused_requests_total.
const (
	RefusedUnauthorized = "unauthorized"
	RefusedBadPath      = "bad_path"
	RefusedNotAllowed   = "not_allowed"
	RefusedOverloaded   = "overloaded"
)

// refuse answers a request the client authentication does not admit.
func (c *Call) refuse() {
	c.outcome, c.reason = OutcomeError, RefusedUnauthorized
	c.e.metrics.Refused.WithLabelValues(RefusedUnauthorized).Inc()
	c.refused = &Reply{
		Status: http.StatusUnauthorized,
		Header: http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {c.rid},
			"Www-Authenticate": {`Bearer realm="semcache"`}},
		Body: httpapi.Error("missing or unknown API key: this semcache serves only its configured client keys "+
			"(Authorization: Bearer <key>)", httpapi.TypeInvalidRequest, "", "invalid_api_key"),
	}
	c.logger().Info("engine: request refused", "reason", RefusedUnauthorized)
}

// Refused is the reply to a request the engine refused in Begin (its
// credential is not admitted), or nil. A front sends it at once, without
// reading the body or going upstream.
func (c *Call) Refused() *Reply {
	return c.refused
}

// Refuse counts a request a front refused before the engine saw it
// (reason is one of the Refused* constants).
func (e *Engine) Refuse(reason string) {
	e.metrics.Refused.WithLabelValues(reason).Inc()
}

// Serve announces a front that sends its requests to e (proxy.NewServer,
// extproc.NewServer): its request series are created at 0 for every
// cached API and namespace known, so alerts see 0 before any traffic.
func (e *Engine) Serve(f Front) {
	e.metrics.InitFront(f.Name)
}

// HasPrices reports whether a price table is configured (the dashboard
// says so instead of showing $0 saved).
func (e *Engine) HasPrices() bool { return e.metrics.HasPrices() }
