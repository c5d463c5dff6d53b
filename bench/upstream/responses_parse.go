package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Limits the Responses API enforces on request parameters.
const (
	minMaxOutputTokens = 16
	maxMetadataKeys    = 16
	maxTopLogprobs     = 20
)

// validToolName reports whether name matches the pattern OpenAI checks
// function tool names against: ^[a-zA-Z0-9_-]{1,64}$.
func validToolName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// responsesTurn is a validated Responses request: the request itself, its
// input as conversation items and its function tools.
type responsesTurn struct {
	req   *responsesRequest
	items []convItem
	tools []responsesTool
}

func badRequest(param, code, format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, param: param, code: code, message: fmt.Sprintf(format, args...)}
}

// parseResponses decodes and validates a POST /v1/responses body the way
// OpenAI does, answering the first problem found. It does not resolve
// previous_response_id, which needs the server's store.
func parseResponses(body []byte) (*responsesTurn, *requestError) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, &requestError{status: http.StatusBadRequest,
			message: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"}
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !knownResponsesParam(k) {
			return nil, badRequest(k, "unknown_parameter", "Unknown parameter: '%s'.", k)
		}
	}
	var req responsesRequest
	if err := json.Unmarshal(body, &req); err != nil {
		if typeErr, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, badRequest(typeErr.Field, "invalid_type", "Invalid type for '%s': expected %s, but got %s instead.",
				typeErr.Field, typeErr.Type, typeErr.Value)
		}
		return nil, badRequest("", "invalid_value", "Invalid request: %s", err.Error())
	}
	if req.Model == "" {
		return nil, badRequest("model", "missing_required_parameter", "Missing required parameter: 'model'.")
	}
	if rerr := checkResponsesOptions(&req); rerr != nil {
		return nil, rerr
	}
	tools, rerr := parseTools(req.Tools)
	if rerr != nil {
		return nil, rerr
	}
	items, rerr := parseInput(req.Input)
	if rerr != nil {
		return nil, rerr
	}
	return &responsesTurn{req: &req, items: items, tools: tools}, nil
}

// checkResponsesOptions validates the scalar parameters.
func checkResponsesOptions(req *responsesRequest) *requestError {
	if v := req.MaxOutputTokens; v != nil && *v < minMaxOutputTokens {
		return badRequest("max_output_tokens", "integer_below_min_value",
			"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= %d, but got %d instead.", minMaxOutputTokens, *v)
	}
	ranges := []struct {
		name     string
		v        *float64
		min, max float64
	}{{"temperature", req.Temperature, 0, 2}, {"top_p", req.TopP, 0, 1}}
	for _, r := range ranges {
		switch {
		case r.v == nil:
		case *r.v < r.min:
			return badRequest(r.name, "decimal_below_min_value",
				"Invalid '%s': decimal below minimum value. Expected a value >= %g, but got %g instead.", r.name, r.min, *r.v)
		case *r.v > r.max:
			return badRequest(r.name, "decimal_above_max_value",
				"Invalid '%s': decimal above maximum value. Expected a value <= %g, but got %g instead.", r.name, r.max, *r.v)
		}
	}
	if v := req.TopLogprobs; v != nil && (*v < 0 || *v > maxTopLogprobs) {
		return badRequest("top_logprobs", "invalid_value", "Invalid 'top_logprobs': expected a value between 0 and %d, but got %d instead.", maxTopLogprobs, *v)
	}
	if n := len(req.Metadata); n > maxMetadataKeys {
		return badRequest("metadata", "object_above_max_properties",
			"Invalid 'metadata': too many properties. Expected an object with at most %d properties, but got %d instead.", maxMetadataKeys, n)
	}
	if req.Background != nil && *req.Background {
		return badRequest("background", "unsupported_parameter", "The simulator does not support background responses.")
	}
	if !isNull(req.Conversation) {
		return badRequest("conversation", "unsupported_parameter", "The simulator does not support 'conversation'; use previous_response_id.")
	}
	if !isNull(req.Prompt) {
		return badRequest("prompt", "unsupported_parameter", "The simulator does not support prompt templates.")
	}
	if req.PreviousResponseID != nil && *req.PreviousResponseID == "" {
		return badRequest("previous_response_id", "invalid_value", "Invalid 'previous_response_id': empty string.")
	}
	if req.Text != nil && !isNull(req.Text.Format) {
		var f struct {
			Type   string          `json:"type"`
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		}
		if err := json.Unmarshal(req.Text.Format, &f); err != nil {
			return badRequest("text.format", "invalid_type", "Invalid type for 'text.format': expected an object.")
		}
		switch f.Type {
		case "text", "json_object":
		case "json_schema":
			if f.Name == "" {
				return badRequest("text.format.name", "missing_required_parameter", "Missing required parameter: 'text.format.name'.")
			}
			if isNull(f.Schema) {
				return badRequest("text.format.schema", "missing_required_parameter", "Missing required parameter: 'text.format.schema'.")
			}
		case "":
			return badRequest("text.format.type", "missing_required_parameter", "Missing required parameter: 'text.format.type'.")
		default:
			return badRequest("text.format.type", "invalid_value",
				"Invalid value: '%s'. Supported values are: 'text', 'json_object', and 'json_schema'.", f.Type)
		}
	}
	return nil
}

// parseTools checks every tool has a type and every function tool a valid name.
func parseTools(raw []json.RawMessage) ([]responsesTool, *requestError) {
	tools := make([]responsesTool, 0, len(raw))
	for i, r := range raw {
		var t responsesTool
		if err := json.Unmarshal(r, &t); err != nil {
			return nil, badRequest(fmt.Sprintf("tools[%d]", i), "invalid_type", "Invalid type for 'tools[%d]': expected an object.", i)
		}
		switch {
		case t.Type == "":
			return nil, badRequest(fmt.Sprintf("tools[%d].type", i), "missing_required_parameter", "Missing required parameter: 'tools[%d].type'.", i)
		case t.Type == "function" && t.Name == "":
			return nil, badRequest(fmt.Sprintf("tools[%d].name", i), "missing_required_parameter", "Missing required parameter: 'tools[%d].name'.", i)
		case t.Type == "function" && !validToolName(t.Name):
			return nil, badRequest(fmt.Sprintf("tools[%d].name", i), "invalid_value",
				"Invalid 'tools[%d].name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", i)
		}
		tools = append(tools, t)
	}
	return tools, nil
}

// parseInput turns "input" (a string or an array of items) into conversation
// items.
func parseInput(raw json.RawMessage) ([]convItem, *requestError) {
	raw = bytes.TrimSpace(raw)
	switch {
	case isNull(raw):
		return nil, badRequest("input", "missing_required_parameter", "Missing required parameter: 'input'.")
	case raw[0] == '"':
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, badRequest("input", "invalid_value", "Invalid 'input': %s", err.Error())
		}
		return []convItem{{Kind: "message", Role: "user", Text: text}}, nil
	case raw[0] != '[':
		return nil, badRequest("input", "invalid_type",
			"Invalid type for 'input': expected one of a string or array of input items, but got %s instead.", jsonKind(raw))
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, badRequest("input", "invalid_value", "Invalid 'input': %s", err.Error())
	}
	if len(elems) == 0 {
		return nil, badRequest("input", "empty_array",
			"Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	items := make([]convItem, 0, len(elems))
	for i, e := range elems {
		item, keep, rerr := parseInputItem(fmt.Sprintf("input[%d]", i), e)
		if rerr != nil {
			return nil, rerr
		}
		if keep {
			items = append(items, item)
		}
	}
	return items, nil
}

// parseInputItem validates one input item. keep is false for items that do
// not change the answer (reasoning).
func parseInputItem(param string, raw json.RawMessage) (convItem, bool, *requestError) {
	var it inputItem
	if err := json.Unmarshal(raw, &it); err != nil {
		if typeErr, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && typeErr.Field != "" {
			return convItem{}, false, badRequest(param+"."+typeErr.Field, "invalid_type",
				"Invalid type for '%s.%s': expected %s, but got %s instead.", param, typeErr.Field, typeErr.Type, typeErr.Value)
		}
		return convItem{}, false, badRequest(param, "invalid_type", "Invalid type for '%s': expected an input item object, but got %s instead.", param, jsonKind(raw))
	}
	missing := func(field string) *requestError {
		return badRequest(param+"."+field, "missing_required_parameter", "Missing required parameter: '%s.%s'.", param, field)
	}
	switch it.Type {
	case "", "message":
		if it.Role == "" {
			return convItem{}, false, missing("role")
		}
		if !slices.Contains([]string{"user", "assistant", "system", "developer"}, it.Role) {
			return convItem{}, false, badRequest(param+".role", "invalid_value",
				"Invalid value: '%s'. Supported values are: 'assistant', 'system', 'developer', and 'user'.", it.Role)
		}
		text, rerr := messageText(param+".content", it.Role, it.Content)
		if rerr != nil {
			return convItem{}, false, rerr
		}
		return convItem{Kind: "message", Role: it.Role, Text: text}, true, nil
	case "function_call":
		switch {
		case it.CallID == nil:
			return convItem{}, false, missing("call_id")
		case it.Name == nil:
			return convItem{}, false, missing("name")
		case it.Arguments == nil:
			return convItem{}, false, missing("arguments")
		}
		return convItem{Kind: "function_call", CallID: *it.CallID, Name: *it.Name, Arguments: *it.Arguments}, true, nil
	case "function_call_output":
		if it.CallID == nil {
			return convItem{}, false, missing("call_id")
		}
		if isNull(it.Output) {
			return convItem{}, false, missing("output")
		}
		text, rerr := toolOutputText(param+".output", it.Output)
		if rerr != nil {
			return convItem{}, false, rerr
		}
		return convItem{Kind: "function_call_output", CallID: *it.CallID, Text: text}, true, nil
	case "reasoning":
		return convItem{}, false, nil
	case "item_reference":
		return convItem{}, false, badRequest(param+".type", "unsupported_value",
			"The simulator does not resolve item_reference items; send the items themselves.")
	}
	return convItem{}, false, badRequest(param+".type", "invalid_value",
		"Invalid value: '%s'. Supported values are: 'message', 'function_call', 'function_call_output', 'reasoning' and 'item_reference'.", it.Type)
}

// messageText validates a message's content (a string or an array of parts)
// and returns its text parts joined by a space. Assistant messages take
// output parts, the other roles input parts, as in the API.
func messageText(param, role string, raw json.RawMessage) (string, *requestError) {
	raw = bytes.TrimSpace(raw)
	switch {
	case isNull(raw):
		return "", badRequest(param, "missing_required_parameter", "Missing required parameter: '%s'.", param)
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", badRequest(param, "invalid_value", "Invalid '%s': %s", param, err.Error())
		}
		return s, nil
	case raw[0] != '[':
		return "", badRequest(param, "invalid_type",
			"Invalid type for '%s': expected one of a string or array of content parts, but got %s instead.", param, jsonKind(raw))
	}
	var parts []inputPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badRequest(param, "invalid_type", "Invalid type for '%s': %s", param, err.Error())
	}
	allowed := []string{"input_text", "input_image", "input_file", "input_audio"}
	if role == "assistant" {
		allowed = []string{"output_text", "refusal"}
	}
	texts := make([]string, 0, len(parts))
	for j, p := range parts {
		if !slices.Contains(allowed, p.Type) {
			return "", badRequest(fmt.Sprintf("%s[%d].type", param, j), "invalid_value",
				"Invalid value: '%s'. Supported values are: '%s'.", p.Type, strings.Join(allowed, "', '"))
		}
		switch p.Type {
		case "input_text", "output_text":
			texts = append(texts, p.Text)
		case "refusal":
			texts = append(texts, p.Refusal)
		}
	}
	return strings.Join(texts, " "), nil
}

// toolOutputText reads a function_call_output's output: a string or an
// array of input parts.
func toolOutputText(param string, raw json.RawMessage) (string, *requestError) {
	raw = bytes.TrimSpace(raw)
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", badRequest(param, "invalid_value", "Invalid '%s': %s", param, err.Error())
		}
		return s, nil
	}
	return messageText(param, "user", raw)
}

// checkCallOutputs rejects a function_call_output whose call_id matches no
// function_call earlier in the conversation, as OpenAI does.
func checkCallOutputs(history, items []convItem) *requestError {
	calls := make(map[string]bool)
	for _, it := range slices.Concat(history, items) {
		switch it.Kind {
		case "function_call":
			calls[it.CallID] = true
		case "function_call_output":
			if !calls[it.CallID] {
				return badRequest("input", "invalid_value", "No tool call found for function call output with call_id %s.", it.CallID)
			}
		}
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// jsonKind names the JSON type of raw for error messages.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
