package cache

import (
	"strings"
	"time"
)

// SubNamespaceSep separates a namespace from a sub-namespace of it
// ("tenant:acme/drafts"). A sub-namespace has entries of its own (its
// keys and its similarity group are its own, so it never reads its
// parent's entries nor the parent its), but it is governed as part of its
// parent: the parent's similarity threshold, shadow mode and quota apply,
// and invalidating the parent voids its sub-namespaces too.
const SubNamespaceSep = "/"

// ParentNamespace is the namespace whose settings govern ns: the part
// before the first SubNamespaceSep (ns itself when it has none).
func ParentNamespace(ns string) string {
	if i := strings.Index(ns, SubNamespaceSep); i >= 0 {
		return ns[:i]
	}
	return ns
}

// tooOld reports whether e is older than the lookup's MaxAge allows.
func (l *Lookup) tooOld(e *Entry, now time.Time) bool {
	return l.MaxAge > 0 && now.Sub(e.CreatedAt) >= l.MaxAge
}

// ScoreCutoffer is a Judge that can say its lowest score cut-off (the
// verifier: the lower of its request and description cut-offs). A judge
// without it scores with the similarity, so its cut-off is the
// similarity threshold.
type ScoreCutoffer interface {
	ScoreCutoff() float32
}

// Cutoffs are what a semantic hit in a namespace must reach: a
// similarity of at least Similarity, and a judge's score of at least
// Score. Enabled is false without a similarity tier (or when the
// namespace's threshold disables it).
type Cutoffs struct {
	Enabled           bool
	Similarity, Score float32
}

// Cutoffs returns the cut-offs of ns's semantic hits (a request may only
// raise them: Lookup.MinSimilarity and Lookup.MinScore).
func (c *Cache) Cutoffs(ns string) Cutoffs {
	sem := c.semantic()
	if sem == nil {
		return Cutoffs{}
	}
	t := sem.threshold(ns)
	if t > 1 {
		return Cutoffs{}
	}
	out := Cutoffs{Enabled: true, Similarity: t, Score: t}
	if sc, ok := sem.Verify.(ScoreCutoffer); ok {
		out.Score = sc.ScoreCutoff()
	}
	return out
}

// ReasonThreshold is the rejection of a candidate the judge accepted but
// whose score is below the request's own cut-off (Lookup.MinScore).
const ReasonThreshold = "request_threshold"
