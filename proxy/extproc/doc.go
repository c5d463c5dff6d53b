// Package extproc serves semcache's engine to Envoy (and Envoy Gateway,
// Envoy AI Gateway, Istio, Higress) as gRPC hooks, so a mesh that already
// runs Envoy gets the cache and RAG enrichment without a second proxy hop.
//
// Two services share one engine.Engine with the HTTP front. They are
// transport adapters: each Envoy message moves one engine phase along
// (request headers → Begin, request body → Plan, response headers →
// Upstream, response body → Write and Finish, stream end → End), and the
// engine's answers become gRPC replies; no cache policy is decided here.
//
//   - ext_proc (envoy.service.ext_proc.v3.ExternalProcessor), the full
//     integration. With the filter in request_body_mode BUFFERED and
//     allow_mode_override, the body of a cached API (chat completions,
//     responses, embeddings, legacy completions; routed by :path) is looked
//     up: a hit is answered with an ImmediateResponse (status 200, the
//     cached JSON or the whole SSE transcript, X-Semcache headers); a miss
//     goes on upstream, with the body replaced when the engine says so
//     (RAG context, the missing inputs of a partly cached embeddings
//     batch). For an answer the engine wants to see, the response headers
//     reply switches the response body to STREAMED; chunks pass through
//     unchanged while they are assembled (or are replaced, when the engine
//     rewrites the answer), and a complete successful answer is written
//     back.
//   - ext_authz (envoy.service.auth.v3.Authorization), the narrow form: a
//     hit is a denied_response carrying status 200 and the cached body; a
//     miss is allowed. It cannot write back or inject RAG context.
//
// Every engine call on the request path runs under a deadline shorter than
// Envoy's message_timeout, so the hook never holds traffic longer than
// that. The request's :authority joins its cache key (Envoy routes by it).
//
// Whoever reaches the gRPC port can send made-up upstream answers, so the
// server serves TLS and checks client certificates (Options.TLS,
// TLSConfig: mutual TLS) and, optionally, a shared secret in the metadata
// (Options.Token). See docs/envoy for the recommended filter settings and
// the deployment note.
package extproc
