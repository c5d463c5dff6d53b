// Package responses is the wire format of POST /v1/responses, the OpenAI
// Responses API (the Vercel AI SDK's default provider, LangChain's
// useResponsesApi, openai.responses.create).
//
// # What is in the key
//
// Every field that can change the answer: model, instructions, input (a
// string is one user message; message items are normalised — type
// "message", trimmed text, a lone text part folded into the string, the
// ids and status of earlier output items left out), tools, tool_choice,
// text (format, verbosity), temperature, top_p, max_output_tokens,
// max_tool_calls, reasoning, include, truncation, parallel_tool_calls, and
// any field this package does not know. Out of the key: stream,
// stream_options, user, metadata, service_tier, prompt_cache_key,
// prompt_cache_retention, safety_identifier. store is in the key only as
// "stored upstream or not" (true when absent, as the API defaults), see
// below. Defaults (temperature 1, top_p 1, truncation "disabled",
// parallel_tool_calls true, tool_choice "auto", text format "text") are
// dropped.
//
// # What is never cached
//
// Requests that depend on state kept upstream: previous_response_id,
// conversation, item_reference inputs, prompt templates; background
// responses; log probabilities (top_logprobs, include
// "message.output_text.logprobs"). They pass through (X-Semcache: bypass).
// Answers are stored only when complete: status "completed", exactly one
// output item, an assistant message of plain output_text parts (no
// function or tool calls, no reasoning items, no annotations), no error or
// incomplete_details, no error / response.failed / response.incomplete
// event, no cut stream.
//
// # store and ids
//
// A hit is replayed with fresh response and message ids, as JSON or as the
// full event stream (response.created … response.completed, sequence
// numbers from 0, usage on response.completed). With store absent or true
// the upstream kept the original response and clients may refer to it
// later (the Vercel AI SDK turns earlier assistant turns into
// item_references by default): the fresh ids then carry the original ids
// (resp_sc<nonce>_<original>), and semcache translates them back in
// previous_response_id, item_reference and input item ids before the
// request goes upstream, so a follow-up on a hit continues from the
// response the upstream really stored — which has the same output. Since
// store is in the key, an answer fetched with store: false (never kept
// upstream) is never served to a store: true request.
package responses
