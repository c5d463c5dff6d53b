package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
)

// This file holds the Responses API (POST /v1/responses) subset of the wire
// format: the request the simulator reads, the response object and the
// named stream events it writes. Null-vs-absent follows what api.openai.com
// sends, as parsed by the official openai-go v3 and openai npm v6 clients.

// knownResponsesParam reports whether k is a top-level request parameter of
// the API; any other key is answered with 400 unknown_parameter, as OpenAI
// does.
func knownResponsesParam(k string) bool {
	switch k {
	case "access_programs", "background", "context_management", "conversation",
		"include", "input", "instructions", "max_output_tokens", "max_tool_calls",
		"metadata", "model", "moderation", "parallel_tool_calls",
		"previous_response_id", "prompt", "prompt_cache_key", "prompt_cache_options",
		"prompt_cache_retention", "reasoning", "safety_identifier", "service_tier",
		"store", "stream", "stream_options", "temperature", "text",
		"tool_choice", "tools", "top_logprobs", "top_p", "truncation", "user":
		return true
	}
	return false
}

// responsesRequest is a POST /v1/responses body. Input, Tools and the other
// raw fields are kept as received: they are echoed in the response object
// and [[sim:echo]] returns Input exactly.
type responsesRequest struct {
	Model              string                  `json:"model"`
	Input              json.RawMessage         `json:"input"`
	Instructions       *string                 `json:"instructions"`
	Stream             bool                    `json:"stream"`
	StreamOptions      *responsesStreamOptions `json:"stream_options"`
	PreviousResponseID *string                 `json:"previous_response_id"`
	Store              *bool                   `json:"store"`
	Background         *bool                   `json:"background"`
	MaxOutputTokens    *int                    `json:"max_output_tokens"`
	MaxToolCalls       *int                    `json:"max_tool_calls"`
	Temperature        *float64                `json:"temperature"`
	TopP               *float64                `json:"top_p"`
	TopLogprobs        *int                    `json:"top_logprobs"`
	ParallelToolCalls  *bool                   `json:"parallel_tool_calls"`
	Tools              []json.RawMessage       `json:"tools"`
	ToolChoice         json.RawMessage         `json:"tool_choice"`
	Text               *responsesTextConfig    `json:"text"`
	Reasoning          json.RawMessage         `json:"reasoning"`
	Metadata           map[string]string       `json:"metadata"`
	User               *string                 `json:"user"`
	SafetyIdentifier   *string                 `json:"safety_identifier"`
	PromptCacheKey     *string                 `json:"prompt_cache_key"`
	ServiceTier        *string                 `json:"service_tier"`
	Truncation         *string                 `json:"truncation"`
	Conversation       json.RawMessage         `json:"conversation"`
	Prompt             json.RawMessage         `json:"prompt"`
}

type responsesStreamOptions struct {
	IncludeObfuscation *bool `json:"include_obfuscation"`
}

// responsesTextConfig is the "text" parameter and response field.
type responsesTextConfig struct {
	Format    json.RawMessage `json:"format,omitempty"`
	Verbosity *string         `json:"verbosity,omitempty"`
}

// responsesTool is the part of a tool definition the simulator reads.
// Function tools are flat in the Responses API: {type, name, parameters}.
type responsesTool struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

// inputItem is one element of an input array: a message (with or without
// "type":"message"), a function_call from an earlier turn, its
// function_call_output, a reasoning item or an item_reference.
type inputItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    *string         `json:"call_id"`
	Name      *string         `json:"name"`
	Arguments *string         `json:"arguments"`
	Output    json.RawMessage `json:"output"`
	ID        string          `json:"id"`
}

// inputPart is one element of a message's content array.
type inputPart struct {
	Type    string `json:"type"`
	Text    string `json:"text"`
	Refusal string `json:"refusal"`
}

// convItem is the simulator's normalised view of one conversation item: what
// feeds the answer hash and what a stored response hands to the next turn
// through previous_response_id.
type convItem struct {
	Kind      string `json:"kind"` // message, function_call, function_call_output
	Role      string `json:"role,omitempty"`
	Text      string `json:"text,omitempty"`
	CallID    string `json:"call_id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
}

// responseObject is the "response" object: the non-stream body and the
// payload of response.created, .in_progress, .completed, .incomplete and
// .failed events.
type responseObject struct {
	ID                 string              `json:"id"`
	Object             string              `json:"object"`
	CreatedAt          int64               `json:"created_at"`
	Status             string              `json:"status"`
	Background         bool                `json:"background"`
	CompletedAt        *int64              `json:"completed_at"`
	Error              *responseError      `json:"error"`
	IncompleteDetails  *incompleteDetails  `json:"incomplete_details"`
	Instructions       *string             `json:"instructions"`
	MaxOutputTokens    *int                `json:"max_output_tokens"`
	MaxToolCalls       *int                `json:"max_tool_calls"`
	Model              string              `json:"model"`
	Output             []outputItem        `json:"output"`
	ParallelToolCalls  bool                `json:"parallel_tool_calls"`
	PreviousResponseID *string             `json:"previous_response_id"`
	PromptCacheKey     *string             `json:"prompt_cache_key"`
	Reasoning          json.RawMessage     `json:"reasoning"`
	SafetyIdentifier   *string             `json:"safety_identifier"`
	ServiceTier        string              `json:"service_tier"`
	Store              bool                `json:"store"`
	Temperature        float64             `json:"temperature"`
	Text               responsesTextConfig `json:"text"`
	ToolChoice         json.RawMessage     `json:"tool_choice"`
	Tools              []json.RawMessage   `json:"tools"`
	TopLogprobs        int                 `json:"top_logprobs"`
	TopP               float64             `json:"top_p"`
	Truncation         string              `json:"truncation"`
	Usage              *responseUsage      `json:"usage"`
	User               *string             `json:"user"`
	Metadata           map[string]string   `json:"metadata"`
}

// responseError is the "error" field of a failed response.
type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incompleteDetails struct {
	Reason string `json:"reason"`
}

type responseUsage struct {
	InputTokens         int                 `json:"input_tokens"`
	InputTokensDetails  inputTokensDetails  `json:"input_tokens_details"`
	OutputTokens        int                 `json:"output_tokens"`
	OutputTokensDetails outputTokensDetails `json:"output_tokens_details"`
	TotalTokens         int                 `json:"total_tokens"`
}

type inputTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

type outputTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// outputItem is one element of "output": exactly one of Message and Call is
// set, and it is marshalled as that item.
type outputItem struct {
	Message *messageItem
	Call    *functionCallItem
}

func (o outputItem) MarshalJSON() ([]byte, error) {
	switch {
	case o.Message != nil:
		return json.Marshal(o.Message)
	case o.Call != nil:
		return json.Marshal(o.Call)
	}
	return nil, errors.New("upstream: empty output item")
}

// messageItem is an assistant message output item. Content is [] (not null)
// in response.output_item.added.
type messageItem struct {
	ID      string       `json:"id"`
	Type    string       `json:"type"`
	Status  string       `json:"status"`
	Content []outputText `json:"content"`
	Role    string       `json:"role"`
}

// outputText is an output_text content part.
type outputText struct {
	Type        string     `json:"type"`
	Annotations []struct{} `json:"annotations"`
	Logprobs    []struct{} `json:"logprobs"`
	Text        string     `json:"text"`
}

func newOutputText(text string) outputText {
	return outputText{Type: "output_text", Annotations: []struct{}{}, Logprobs: []struct{}{}, Text: text}
}

// functionCallItem is a function_call output item.
type functionCallItem struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Arguments string `json:"arguments"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
}

// responseEvent is one named stream event. Type and SequenceNumber are on
// every event; the other fields are set per type (pointers where the zero
// value must still be sent, such as output_index 0 or an empty delta).
type responseEvent struct {
	Type           string          `json:"type"`
	SequenceNumber int             `json:"sequence_number"`
	Response       *responseObject `json:"response,omitempty"`
	OutputIndex    *int            `json:"output_index,omitempty"`
	ItemID         string          `json:"item_id,omitempty"`
	ContentIndex   *int            `json:"content_index,omitempty"`
	Item           *outputItem     `json:"item,omitempty"`
	Part           *outputText     `json:"part,omitempty"`
	Delta          *string         `json:"delta,omitempty"`
	Text           *string         `json:"text,omitempty"`
	Arguments      *string         `json:"arguments,omitempty"`
	Logprobs       *[]struct{}     `json:"logprobs,omitempty"`
	Obfuscation    string          `json:"obfuscation,omitempty"`
	Error          *errorDetail    `json:"error,omitempty"`
}

// echoBody is what [[sim:echo]] answers on /v1/responses: the instructions
// and the input exactly as received.
type echoBody struct {
	Instructions *string         `json:"instructions"`
	Input        json.RawMessage `json:"input"`
}

// marshalNoEscape marshals v like json.Marshal but leaves <, > and & as they
// are, so echoed prompts read as sent.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
