// Package chat is the wire format of POST /v1/chat/completions: it parses
// and canonicalises requests into cache lookups, assembles upstream
// answers (a chat.completion JSON body or a chat.completion.chunk event
// stream) into cache answers, decides which answers may be stored (one
// choice, finish_reason "stop", no tool calls, no upstream error, no cut
// stream), and renders stored answers back as JSON or as a complete SSE
// stream with fresh ids.
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
package chat
