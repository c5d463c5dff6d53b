package engine

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/httpapi"
)

// Per-request policy a client may ask for, beyond the cache controls of
// controls.go: freshness (Cache-Control: max-age, s-maxage,
// only-if-cached), a stricter semantic cut-off (X-Semcache-Threshold) and
// a sub-namespace (X-Semcache-Namespace). A request can only make the
// cache stricter for itself: it never lowers a namespace's cut-off, never
// reaches outside its own namespace.

// Threshold is what X-Semcache-Threshold asks for: a semantic hit must
// reach this cosine similarity and this judge's score (0: not asked). A
// value at or below the namespace's own cut-off is ignored (and counted).
type Threshold struct {
	Similarity, Score float32
}

// MaxSubNamespace bounds an X-Semcache-Namespace value.
const MaxSubNamespace = 64

// maxAgeCap bounds a max-age: beyond it every entry is young enough.
const maxAgeCap = 100 * 365 * 24 * time.Hour

// ignoredSet records optional request headers that were malformed.
type ignoredSet uint8

const (
	ignoredMaxAge ignoredSet = 1 << iota
	ignoredThreshold
)

// Values of semcache_policy_ignored_total's labels.
const (
	ignoredHeaderThreshold    = "threshold"
	ignoredHeaderCacheControl = "cache_control"
	ignoredLower              = "lower"
	ignoredInvalid            = "invalid"
)

// parseAge reads a Cache-Control delta-seconds argument.
func parseAge(arg string) (time.Duration, bool) {
	arg = strings.Trim(strings.TrimSpace(arg), `"`)
	if arg == "" || strings.TrimLeft(arg, "0123456789") != "" {
		return 0, false
	}
	secs, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || secs > int64(maxAgeCap/time.Second) {
		return maxAgeCap, true // too many digits: older than anything we keep
	}
	return time.Duration(secs) * time.Second, true
}

// ParseThreshold reads an X-Semcache-Threshold value: a number in (0, 1]
// (the minimum cosine similarity), or comma-separated similarity=F and
// score=F (the judge's calibrated score).
func ParseThreshold(v string) (Threshold, error) {
	var t Threshold
	v = strings.TrimSpace(v)
	if v == "" {
		return t, errors.New("empty")
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(v, ",") {
		key, num, named := strings.Cut(strings.TrimSpace(part), "=")
		if !named {
			key, num = "similarity", key
		}
		key = strings.ToLower(strings.TrimSpace(key))
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 32)
		if err != nil || math.IsNaN(f) || f <= 0 || f > 1 {
			return Threshold{}, fmt.Errorf("%q is not a number in (0, 1]", strings.TrimSpace(num))
		}
		if seen[key] {
			return Threshold{}, fmt.Errorf("%s given twice", key)
		}
		seen[key] = true
		switch key {
		case "similarity":
			t.Similarity = float32(f)
		case "score":
			t.Score = float32(f)
		default:
			return Threshold{}, fmt.Errorf("unknown key %q (want similarity or score)", key)
		}
	}
	return t, nil
}

// parseThresholdHeader reads X-Semcache-Threshold; a malformed value is
// ignored and recorded in ignored.
func parseThresholdHeader(h http.Header, ignored ignoredSet) (Threshold, ignoredSet) {
	vs := h.Values("X-Semcache-Threshold")
	if len(vs) == 0 {
		return Threshold{}, ignored
	}
	t, err := ParseThreshold(strings.Join(vs, ","))
	if err != nil {
		return Threshold{}, ignored | ignoredThreshold
	}
	return t, ignored
}

// ParseSubNamespace validates an X-Semcache-Namespace value: 1 to
// MaxSubNamespace letters, digits, '.', '_' or '-', starting with a letter
// or digit. It can name no other namespace than a child of the caller's.
func ParseSubNamespace(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > MaxSubNamespace {
		return "", fmt.Errorf("%w: X-Semcache-Namespace must be 1 to %d characters", ErrBadControl, MaxSubNamespace)
	}
	for i, r := range v {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '.' || r == '_' || r == '-'))
		if !ok {
			return "", fmt.Errorf("%w: X-Semcache-Namespace %q: only letters, digits, '.', '_' and '-', starting with a letter or digit", ErrBadControl, v)
		}
	}
	return v, nil
}

func parseSubNamespace(h http.Header) (string, error) {
	vs := h.Values("X-Semcache-Namespace")
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return ParseSubNamespace(vs[0])
	}
	return "", fmt.Errorf("%w: X-Semcache-Namespace given %d times", ErrBadControl, len(vs))
}

// reqPolicy is a call's per-request policy state.
type reqPolicy struct {
	// minSim and minScore are the raised cut-offs the lookup applies.
	minSim, minScore float32
	// rule is the cache rule that applied (nil: none).
	rule *rule
}

// countIgnored counts the malformed headers of a call's controls.
func (c *Call) countIgnored() {
	if c.ctl.ignored&ignoredMaxAge != 0 {
		c.e.metrics.policyIgnored(ignoredHeaderCacheControl, ignoredInvalid)
	}
	if c.ctl.ignored&ignoredThreshold != 0 {
		c.e.metrics.policyIgnored(ignoredHeaderThreshold, ignoredInvalid)
	}
}

// raiseThreshold works out the cut-offs of the call's lookups: the
// namespace's, raised by X-Semcache-Threshold where it asks for more. A
// value that would lower one is ignored and counted. In a namespace with
// an error budget the score is compared with the learner's floor: a
// higher one tightens what the learner may serve.
func (c *Call) raiseThreshold() {
	t := c.ctl.Threshold
	if t == (Threshold{}) {
		return
	}
	cut := c.e.cache.Cutoffs(c.ns)
	if !cut.Enabled {
		return // no semantic hits to make stricter
	}
	if c.budgeted() {
		cut.Score = c.e.budget.ScoreFloor()
	}
	lower := false
	if t.Similarity > 0 {
		if t.Similarity < cut.Similarity {
			lower = true
		} else {
			c.rp.minSim = t.Similarity
		}
	}
	if t.Score > 0 {
		if t.Score < cut.Score {
			lower = true
		} else {
			c.rp.minScore = t.Score
		}
	}
	if lower {
		c.e.metrics.policyIgnored(ignoredHeaderThreshold, ignoredLower)
		c.logger().Debug("X-Semcache-Threshold below the namespace's cut-off ignored", "namespace", c.ns,
			"similarity", cut.Similarity, "score", cut.Score)
	}
}

// lookupPolicy applies the request's freshness and cut-offs to its items.
func (c *Call) lookupPolicy() {
	c.raiseThreshold()
	for i := range c.items {
		c.items[i].MaxAge = c.ctl.MaxAge
		c.items[i].MinSimilarity, c.items[i].MinScore = c.rp.minSim, c.rp.minScore
	}
}

// errCacheMiss is the miss of an only-if-cached request.
var errCacheMiss = errors.New("only-if-cached: the answer is not in the cache")

// onlyIfCached answers a request that would go upstream but asked for
// cached answers only: 504, as RFC 9111 says.
func (c *Call) onlyIfCached() Plan {
	if c.outcome != OutcomeBypass {
		c.outcome = OutcomeMiss
	}
	c.reason = "only_if_cached"
	for _, i := range c.missing {
		c.hits[i] = nil
	}
	reply := c.errorReply(errCacheMiss)
	if c.outcome == OutcomeBypass {
		c.header.Set("X-Semcache", "bypass")
	} else {
		c.missHeaders()
	}
	for k, vs := range c.header {
		if reply.Header.Get(k) == "" {
			reply.Header[k] = vs
		}
	}
	return Plan{Reply: &reply}
}

// cacheMissReply is the wire form of errCacheMiss.
func cacheMissReply() (int, []byte) {
	return http.StatusGatewayTimeout, httpapi.Error(errCacheMiss.Error(), httpapi.TypeInvalidRequest, "", "cache_miss")
}

// subNamespace narrows ns by the request's X-Semcache-Namespace.
func subNamespace(ns, sub string) string {
	if sub == "" {
		return ns
	}
	return ns + cache.SubNamespaceSep + sub
}
