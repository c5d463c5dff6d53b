// Package proxy is semcache's HTTP front: an OpenAI-compatible server
// under /v1 that moves bytes between clients and the upstream and leaves
// every decision to the engine (package engine). For each request it
// calls the engine's phases in order: Begin when the headers arrive, Plan
// with the body of a cached API (chat completions, responses, embeddings,
// legacy completions), then either writes the engine's reply (a hit, an
// error) or calls the upstream, passing the answer through Upstream,
// Write and Finish, and End when the client is served. Everything else
// under /v1 is reverse-proxied unchanged (and counted, X-Semcache:
// bypass).
//
// What the HTTP front owns is transport: body limits and read deadlines
// (every body read has one; early replies close the connection without
// draining it), the connection cap (Listener), the in-flight request cap
// and the in-flight body budget (503 with Retry-After), the path check
// and the passthrough allow-list, the upstream URL and key, hop-by-hop
// headers, flushing streams event by event, aborting a client whose
// upstream stream broke, and flights that let identical concurrent misses
// share one upstream call: a flight owns its call (its own context and
// timeout), which ends only when its last client has left.
package proxy
