package responses

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/canon"
)

// Name is this API's name in cache entries and route labels; Path is
// where it is served.
const (
	Name = "responses"
	Path = "/v1/responses"
)

func badRequest(param, format string, args ...any) error {
	return wire.BadRequest(param, format, args...)
}

// Item is one input item as the cache sees it.
type Item struct {
	// Type is "message" for messages (with or without an explicit type).
	Type string
	Role string
	// Text is the text of a message: its string content, or its text
	// parts joined by newlines.
	Text string
	// TextOnly is false when a message holds non-text parts (images,
	// files, audio).
	TextOnly bool
}

// Request is a parsed, validated Responses API request.
type Request struct {
	// Body is the request body as received.
	Body   []byte
	Model  string
	Stream bool
	// Store is the effective store flag: false only when the request says
	// so (the API's default is true).
	Store bool
	Input []Item

	canonical, contextCanon []byte
	mode                    wire.PromptMode

	// Prompt is the text the similarity tier embeds ("" when it cannot be
	// used).
	Prompt string
	// Context is the earlier user turns in context mode ("" otherwise):
	// the similarity tier embeds and verifies them with the prompt.
	Context string
	// ContextAnswers fingerprints the earlier items that are not the
	// user's (answers, function calls and their outputs) in context mode
	// (cache.ContextAnswersFingerprint).
	ContextAnswers string
	// BypassReason says why the request must not be cached ("" when it
	// may be).
	BypassReason string

	fields map[string]any
	// rewrite is set when the body names ids semcache minted (see ids.go):
	// the upstream must get the original ids instead.
	rewrite bool
}

// keysOutOfKey change only transport or bookkeeping, never the answer.
// store is replaced by its effective value (see Request.Store).
var keysOutOfKey = map[string]bool{
	"stream": true, "stream_options": true, "user": true, "metadata": true, "store": true,
	"service_tier": true, "prompt_cache_key": true, "prompt_cache_retention": true, "prompt_cache_options": true,
	"safety_identifier": true, "background": true,
}

// defaultValues are dropped from the key when a request states them.
var defaultValues = map[string]any{
	"temperature": 1.0, "top_p": 1.0, "truncation": "disabled", "parallel_tool_calls": true,
}

var validRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true}

var numericFields = []string{"temperature", "top_p", "max_output_tokens", "max_tool_calls", "top_logprobs"}

// ParseRequest validates a POST /v1/responses body and computes its
// canonical forms. mode chooses what the similarity tier embeds. Errors are
// *wire.RequestError.
func ParseRequest(body []byte, mode wire.PromptMode) (*Request, error) {
	fields, err := canon.Object(body)
	if err != nil {
		return nil, badRequest("", "%s", err.Error())
	}
	r := &Request{Body: body, Store: true, mode: mode, fields: fields}
	switch m := fields["model"].(type) {
	case string:
		if strings.TrimSpace(m) == "" {
			return nil, badRequest("model", "model must be a non-empty string")
		}
		r.Model = m
	case nil:
		return nil, badRequest("model", "Missing required parameter: 'model'.")
	default:
		return nil, badRequest("model", "model must be a non-empty string")
	}
	for _, name := range []string{"stream", "store", "background", "parallel_tool_calls"} {
		if v, ok := fields[name]; ok && v != nil {
			if _, isBool := v.(bool); !isBool {
				return nil, badRequest(name, "%s must be a boolean", name)
			}
		}
	}
	r.Stream = fields["stream"] == true
	r.Store = fields["store"] != false
	for _, name := range numericFields {
		if v, ok := fields[name]; ok && v != nil {
			if _, isNum := v.(json.Number); !isNum {
				return nil, badRequest(name, "%s must be a number", name)
			}
		}
	}
	if v, ok := fields["instructions"]; ok && v != nil {
		if _, isStr := v.(string); !isStr {
			return nil, badRequest("instructions", "instructions must be a string")
		}
	}
	input, err := r.parseInput(fields["input"])
	if err != nil {
		return nil, err
	}
	r.bypass(fields)
	r.canonicalise(fields, input)
	return r, nil
}

// parseInput validates input, a string or an array of items, and returns
// it as items (a string is one user message).
func (r *Request) parseInput(raw any) ([]any, error) {
	switch in := raw.(type) {
	case nil:
		return nil, nil
	case string:
		r.Input = []Item{{Type: "message", Role: "user", Text: in, TextOnly: true}}
		return []any{map[string]any{"type": "message", "role": "user", "content": in}}, nil
	case []any:
		r.Input = make([]Item, len(in))
		for i, it := range in {
			param := "input[" + strconv.Itoa(i) + "]"
			obj, ok := it.(map[string]any)
			if !ok {
				return nil, badRequest(param, "each input item must be an object")
			}
			typ, _ := obj["type"].(string)
			if t, present := obj["type"]; present && t != nil && typ == "" {
				return nil, badRequest(param+".type", "type must be a string")
			}
			if typ == "" || typ == "message" {
				role, _ := obj["role"].(string)
				if !validRoles[role] {
					return nil, badRequest(param+".role", "role must be one of user, assistant, system, developer")
				}
				text, textOnly, err := contentText(obj["content"])
				if err != nil {
					return nil, badRequest(param+".content", "%s", err.Error())
				}
				r.Input[i] = Item{Type: "message", Role: role, Text: text, TextOnly: textOnly}
				continue
			}
			r.Input[i] = Item{Type: typ}
		}
		return in, nil
	default:
		return nil, badRequest("input", "input must be a string or an array of input items")
	}
}

// contentText extracts the text of a message content: a string or an
// array of parts.
func contentText(content any) (text string, textOnly bool, err error) {
	switch c := content.(type) {
	case string:
		return c, true, nil
	case []any:
		var b strings.Builder
		textOnly = true
		for _, p := range c {
			part, ok := p.(map[string]any)
			if !ok {
				return "", false, errString("content parts must be objects with a string type")
			}
			typ, ok := part["type"].(string)
			if !ok {
				return "", false, errString("content parts must be objects with a string type")
			}
			t, isText := part["text"].(string)
			if (typ != "input_text" && typ != "output_text") || !isText {
				textOnly = false
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(t)
		}
		return b.String(), textOnly, nil
	default:
		return "", false, errString("content must be a string or an array of content parts")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// bypass decides whether the request may be cached. A request that
// depends on state kept upstream (an earlier response, a conversation,
// stored items, a prompt template) or asks for what a replay cannot give
// (background processing, log probabilities) goes upstream uncached.
func (r *Request) bypass(fields map[string]any) {
	switch {
	case fields["previous_response_id"] != nil:
		r.BypassReason = "previous_response_id"
	case fields["conversation"] != nil:
		r.BypassReason = "conversation"
	case fields["prompt"] != nil:
		r.BypassReason = "prompt template"
	case fields["background"] == true:
		r.BypassReason = "background"
	case fields["input"] == nil:
		r.BypassReason = "no input"
	case !canon.Equal(fields["top_logprobs"], 0) && fields["top_logprobs"] != nil:
		r.BypassReason = "logprobs"
	}
	if inc, ok := fields["include"].([]any); ok && r.BypassReason == "" {
		for _, v := range inc {
			if s, _ := v.(string); strings.Contains(s, "logprobs") {
				r.BypassReason = "logprobs"
			}
		}
	}
	for _, it := range r.Input {
		if it.Type == "item_reference" && r.BypassReason == "" {
			r.BypassReason = "item_reference"
		}
	}
	r.rewrite = r.mintedIDs()
}

// canonicalise computes the canonical forms and the embedded prompt.
func (r *Request) canonicalise(fields map[string]any, input []any) {
	names := make([]string, 0, len(fields)+1)
	for name := range fields {
		if !keysOutOfKey[name] {
			names = append(names, name)
		}
	}
	names = append(names, "store")
	slices.Sort(names)

	semantic := false
	if n := len(r.Input); n > 0 {
		last := r.Input[n-1]
		semantic = last.Type == "message" && last.Role == "user" && last.TextOnly && strings.TrimSpace(last.Text) != ""
	}

	full := make([]byte, 0, len(r.Body)+16)
	ctx := make([]byte, 0, len(r.Body)+16)
	full = append(full, '{')
	ctx = append(ctx, '{')
	first := true
	for _, name := range names {
		v := fields[name]
		if name == "store" {
			v = r.Store
		}
		if v == nil || isDefault(name, v) {
			continue
		}
		if !first {
			full = append(full, ',')
			ctx = append(ctx, ',')
		}
		first = false
		full = canon.AppendString(full, name)
		full = append(full, ':')
		ctx = canon.AppendString(ctx, name)
		ctx = append(ctx, ':')
		if name != "input" {
			full = canon.Append(full, v)
			ctx = canon.Append(ctx, v)
			continue
		}
		full = appendItems(full, input, len(input))
		switch {
		case !semantic:
			ctx = appendItems(ctx, input, len(input))
		case r.mode == wire.PromptConversation || r.mode == wire.PromptContext:
			ctx = appendItems(ctx, input, 0, "system", "developer")
		default:
			ctx = appendItems(ctx, input, len(input)-1)
		}
	}
	full = append(full, '}')
	ctx = append(ctx, '}')
	r.canonical, r.contextCanon = full, ctx
	if !semantic {
		return
	}
	switch r.mode {
	case wire.PromptConversation:
		var conv strings.Builder
		for _, it := range r.Input {
			if it.Type != "message" || (it.Role != "user" && it.Role != "assistant") || strings.TrimSpace(it.Text) == "" {
				continue
			}
			if conv.Len() > 0 {
				conv.WriteByte('\n')
			}
			conv.WriteString(it.Role + ": " + strings.TrimSpace(it.Text))
		}
		r.Prompt = conv.String()
	case wire.PromptContext:
		r.Prompt = strings.TrimSpace(r.Input[len(r.Input)-1].Text)
		r.Context = earlierUser(r.Input)
		var turns [][]byte
		words := 0
		for i, it := range r.Input[:len(r.Input)-1] {
			if it.Type == "message" && (it.Role == "user" || it.Role == "system" || it.Role == "developer") {
				continue
			}
			obj, _ := input[i].(map[string]any)
			turns = append(turns, canon.Append(nil, normaliseItem(obj)))
			if it.Type == "message" && it.Role == "assistant" {
				words += len(strings.Fields(it.Text))
			}
		}
		r.ContextAnswers = cache.ContextAnswersFingerprint(turns, words)
	default:
		r.Prompt = strings.TrimSpace(r.Input[len(r.Input)-1].Text)
	}
}

// earlierUser joins the user messages before the last item.
func earlierUser(items []Item) string {
	var b strings.Builder
	for _, it := range items[:len(items)-1] {
		if it.Type != "message" || it.Role != "user" || strings.TrimSpace(it.Text) == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(strings.TrimSpace(it.Text))
	}
	return b.String()
}

// isDefault reports whether v is the documented default of field name.
func isDefault(name string, v any) bool {
	def, ok := defaultValues[name]
	if !ok {
		if name == "text" {
			// {"format": {"type": "text"}} is the default text config.
			t, _ := v.(map[string]any)
			f, _ := t["format"].(map[string]any)
			return len(t) == 1 && len(f) == 1 && f["type"] == "text"
		}
		if name == "tool_choice" {
			return v == "auto"
		}
		return false
	}
	switch d := def.(type) {
	case float64:
		return canon.Equal(v, d)
	default:
		return v == d
	}
}

// appendItems writes the first n input items (plus, after them, every
// later message whose role is in keepRoles) canonically.
func appendItems(dst []byte, items []any, n int, keepRoles ...string) []byte {
	dst = append(dst, '[')
	wrote := false
	for i, it := range items {
		obj, _ := it.(map[string]any)
		if i >= n {
			role, _ := obj["role"].(string)
			if !slices.Contains(keepRoles, role) {
				continue
			}
		}
		if wrote {
			dst = append(dst, ',')
		}
		wrote = true
		dst = canon.Append(dst, normaliseItem(obj))
	}
	return append(dst, ']')
}

// normaliseItem gives equivalent items one form: a message always has
// type "message", trimmed text, and a content array holding one text part
// folds into the plain string; the ids and status of earlier output items
// (references to where they were stored, not what they say) are left out.
func normaliseItem(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj)+1)
	for k, v := range obj {
		if v != nil {
			out[k] = v
		}
	}
	typ, _ := out["type"].(string)
	switch typ {
	case "", "message":
		out["type"] = "message"
		delete(out, "id")
		delete(out, "status")
		switch c := out["content"].(type) {
		case string:
			out["content"] = strings.TrimSpace(c)
		case []any:
			if len(c) == 1 {
				if s, ok := plainText(c[0]); ok {
					out["content"] = strings.TrimSpace(s)
				}
			}
		}
	case "function_call":
		delete(out, "id")
		delete(out, "status")
	}
	return out
}

// plainText returns the text of a text part that carries nothing else
// (empty annotations and logprobs aside).
func plainText(p any) (string, bool) {
	part, ok := p.(map[string]any)
	if !ok {
		return "", false
	}
	typ, _ := part["type"].(string)
	text, isText := part["text"].(string)
	if (typ != "input_text" && typ != "output_text") || !isText {
		return "", false
	}
	for k, v := range part {
		switch k {
		case "type", "text":
		case "annotations", "logprobs":
			if a, ok := v.([]any); v != nil && (!ok || len(a) > 0) {
				return "", false
			}
		default:
			if v != nil {
				return "", false
			}
		}
	}
	return text, true
}

// Lookup describes r to the cache (the engine adds namespace and salt).
func (r *Request) Lookup() cache.Lookup {
	return cache.Lookup{Endpoint: Name, Model: r.Model, Key: r.canonical, Prompt: r.Prompt, Context: r.Context,
		ContextAnswers: r.ContextAnswers, Partition: r.contextCanon}
}

// Canonical returns the canonical form of the answer-relevant fields.
func (r *Request) Canonical() []byte { return r.canonical }
