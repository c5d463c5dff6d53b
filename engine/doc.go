// Package engine owns semcache's request lifecycle: every policy decision
// about a request is made here, once, whichever front it came through
// (the HTTP server in proxy, Envoy ext_proc and ext_authz in
// proxy/extproc). Fronts are transport adapters that call a Call's phases
// in one order — Begin (headers), Plan (body), Upstream (response
// headers), Write (each body chunk), Finish (end of body), End — and move
// bytes; see Call.
//
// What lives here: client authentication (ClientAuth: refused in Begin,
// before any body is read), routing a request to its API (Endpoints: chat
// completions, responses, embeddings, legacy completions; anything else is
// passed through and counted as a bypass; the path check and the
// passthrough allow-list the HTTP front applies), the tenant namespace,
// the route identity (the :authority and key headers that join the key
// and the partition), the request body's Content-Encoding (decoded within
// the body limit), the cache controls (no-cache, no-store, TTL, RAG off;
// the upstream's Cache-Control on its answer), the request's own policy
// (freshness: max-age, s-maxage, only-if-cached; a raise-only
// X-Semcache-Threshold; X-Semcache-Namespace sub-namespaces; see
// reqpolicy.go), the operator's cache rules (rules.go, with the PII
// detector of pii.go), bypass rules, the
// lookup (exact, then semantic; one lookup per input for batch APIs), hit
// rendering and the X-Semcache response headers, what a hit says about
// itself (the marker, its usage, the pace of a replay, several answers per
// key: answers.go), RAG enrichment and its
// salt, what is observed and stored (write-back), the request id,
// coalescing keys, shadow mode, metrics and the dashboard's observer.
//
// What does not: wire formats (package wire and its per-API packages,
// which implement Request), storage (package cache), transport (proxy,
// proxy/extproc).
package engine
