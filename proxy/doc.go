// Package proxy is semcache's front door: an OpenAI-compatible HTTP server
// that answers POST /v1/chat/completions from the cache or from the
// upstream (streaming answers through as they arrive and writing complete
// ones back), and passes every other /v1/* call through unchanged.
//
// The Engine here is shared by every front: the HTTP server in this package
// and the Envoy ext_proc / ext_authz servers in proxy/extproc. It resolves
// the tenant namespace, parses and canonicalises the request, looks it up,
// renders hits, decides what is stored, and records metrics. Errors from
// cache/ and rag/ are translated to HTTP statuses and OpenAI error JSON only
// here, at the edge.
package proxy
