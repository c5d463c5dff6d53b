// Package cache is semcache's answer cache: it canonicalises chat-completion
// requests into keys, holds answers in an exact tier (ristretto in memory,
// bbolt on disk) and a similarity tier (an embedder plus a vector store,
// guarded by a verifier), assembles upstream answers (JSON or SSE) into
// entries, decides what may be stored, renders entries back as JSON or SSE,
// and writes entries back off the request path through a bounded queue.
//
// It knows nothing about HTTP servers or gRPC: the fronts in proxy/ call it
// and translate its errors at the edge.
//
// # What is in the key
//
// The exact key is SHA-256 over the namespace and the canonical form of every
// request field that can change the answer: model, messages (role, content,
// name, tool_calls, tool_call_id, …), tools, tool_choice, response_format,
// temperature, top_p, seed, max_tokens / max_completion_tokens (treated as the
// same field), stop, n, presence/frequency penalties, logit_bias,
// reasoning_effort, modalities, audio, prediction, parallel_tool_calls, and any
// field this package does not know (unknown fields are kept: safe by default).
// Canonical form sorts object keys, drops insignificant JSON whitespace,
// normalises numbers (1.0 == 1), drops null fields and fields equal to their
// documented default (temperature 1, top_p 1, n 1, penalties 0), trims
// surrounding whitespace of message text, and treats a content array holding
// one text part as the plain string.
//
// Out of the key (they change only the transport or bookkeeping, not the
// answer): stream, stream_options, user, metadata, store, service_tier,
// prompt_cache_key, safety_identifier. A cached answer is therefore served as
// JSON or as SSE, whichever the new request asks for.
package cache
