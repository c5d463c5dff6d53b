// Package extproc serves semcache's engine to Envoy (and Envoy Gateway,
// Envoy AI Gateway, Istio, Higress) as gRPC hooks, so a mesh that already
// runs Envoy gets the cache and RAG enrichment without a second proxy hop.
//
// Two services share one proxy.Engine with the HTTP front:
//
//   - ext_proc (envoy.service.ext_proc.v3.ExternalProcessor), the full
//     integration. With the filter in request_body_mode BUFFERED and
//     allow_mode_override, a chat-completion request body is looked up: a
//     hit is answered with an ImmediateResponse (status 200, the cached
//     JSON or the whole SSE transcript, X-Semcache headers); a miss goes on
//     upstream, with the RAG context injected by a body mutation. For a 200
//     answer the response headers reply switches the response body to
//     STREAMED, the chunks pass through unchanged while they are assembled,
//     and a complete successful answer is written back.
//   - ext_authz (envoy.service.auth.v3.Authorization), the narrow form: a
//     hit is a denied_response carrying status 200 and the cached body; a
//     miss is allowed. It cannot write back or inject RAG context.
//
// Every engine call on the request path runs under a deadline shorter than
// Envoy's message_timeout, so the hook never holds traffic longer than
// that. See docs/envoy for the recommended filter settings.
package extproc
