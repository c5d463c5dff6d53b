package chat

import (
	"encoding/json"
	"errors"
	"math"
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
	Name = "chat"
	Path = "/v1/chat/completions"
)

func badRequest(param, format string, args ...any) error {
	return wire.BadRequest(param, format, args...)
}

// Message is one chat message as the cache sees it.
type Message struct {
	Role string
	// Text is the message's text: the string content, or the text parts of
	// an array content joined by newlines.
	Text string
	// TextOnly is false when the content holds non-text parts (images,
	// audio, files) that the similarity tier cannot compare.
	TextOnly bool
}

// Request is a parsed, validated chat-completion request.
type Request struct {
	// Body is the request body as received.
	Body         []byte
	Model        string
	Stream       bool
	IncludeUsage bool
	Messages     []Message

	// canonical is the canonical form of the answer-relevant fields;
	// contextCanon the same with the embedded prompt left out.
	canonical    []byte
	contextCanon []byte
	mode         wire.PromptMode

	// Prompt is the text the similarity tier compares ("" when it cannot
	// be used, see SemanticReason).
	Prompt string
	// Context is the earlier user turns, joined by newlines, in context
	// mode ("" otherwise, or for a first turn): the verifier compares it
	// too.
	Context string
	// ContextAnswers fingerprints the earlier turns that are not the
	// user's (answers, tool calls and results) in context mode
	// (cache.ContextAnswersFingerprint).
	ContextAnswers string
	// SemanticReason says why the similarity tier must not be used for this
	// request ("" when it may be).
	SemanticReason string
	// BypassReason says why the request must not be cached at all ("" when
	// it may be): n > 1, logprobs.
	BypassReason string
}

// keysOutOfKey change only transport or bookkeeping, never the answer.
var keysOutOfKey = map[string]bool{
	"stream": true, "stream_options": true, "user": true, "metadata": true,
	"store": true, "service_tier": true, "prompt_cache_key": true,
	"safety_identifier": true,
}

// defaultValues are dropped from the key when a request states them.
var defaultValues = map[string]float64{
	"temperature": 1, "top_p": 1, "n": 1, "presence_penalty": 0, "frequency_penalty": 0,
}

var validRoles = map[string]bool{
	"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true,
}

var numericFields = []string{"temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "n",
	"max_tokens", "max_completion_tokens", "top_logprobs"}

// ParseRequest validates a chat-completion body and computes its canonical
// forms. mode chooses what the similarity tier embeds. The body is decoded
// once; everything else is derived from that tree. Errors are
// *wire.RequestError.
func ParseRequest(body []byte, mode wire.PromptMode) (*Request, error) {
	fields, err := canon.Object(body)
	if err != nil {
		return nil, badRequest("", "%s", err.Error())
	}
	r := &Request{Body: body}

	switch m := fields["model"].(type) {
	case nil:
		return nil, badRequest("model", "you must provide a model parameter")
	case string:
		if strings.TrimSpace(m) == "" {
			return nil, badRequest("model", "model must be a non-empty string")
		}
		r.Model = m
	default:
		return nil, badRequest("model", "model must be a non-empty string")
	}
	if raw, present := fields["stream"]; present && raw != nil {
		b, ok := raw.(bool)
		if !ok {
			return nil, badRequest("stream", "stream must be a boolean")
		}
		r.Stream = b
	}
	if raw, present := fields["stream_options"]; present && raw != nil {
		so, ok := raw.(map[string]any)
		if !ok {
			return nil, badRequest("stream_options", "stream_options must be an object")
		}
		r.IncludeUsage = so["include_usage"] == true
	}
	msgs, err := r.parseMessages(fields["messages"])
	if err != nil {
		return nil, err
	}
	if err := r.checkScalars(fields); err != nil {
		return nil, err
	}
	r.canonicalise(fields, msgs, mode)
	return r, nil
}

func (r *Request) parseMessages(raw any) ([]any, error) {
	if raw == nil {
		return nil, badRequest("messages", "you must provide a messages parameter")
	}
	msgs, ok := raw.([]any)
	if !ok {
		return nil, badRequest("messages", "messages must be an array of message objects")
	}
	if len(msgs) == 0 {
		return nil, badRequest("messages", "messages must contain at least one message")
	}
	r.Messages = make([]Message, len(msgs))
	for i, m := range msgs {
		param := "messages[" + strconv.Itoa(i) + "]"
		obj, ok := m.(map[string]any)
		if !ok {
			return nil, badRequest(param, "each message must be an object with a string role")
		}
		role, _ := obj["role"].(string)
		if !validRoles[role] {
			return nil, badRequest(param+".role", "role must be one of system, developer, user, assistant, tool, function")
		}
		text, textOnly, err := contentText(obj["content"])
		if err != nil {
			return nil, badRequest(param+".content", "%s", err.Error())
		}
		r.Messages[i] = Message{Role: role, Text: text, TextOnly: textOnly}
	}
	return msgs, nil
}

// contentText extracts the text of a message content: a string, null, or an
// array of parts.
func contentText(content any) (text string, textOnly bool, err error) {
	switch c := content.(type) {
	case nil:
		return "", true, nil
	case string:
		return c, true, nil
	case []any:
		var b strings.Builder
		textOnly = true
		for _, p := range c {
			part, ok := p.(map[string]any)
			if !ok {
				return "", false, errors.New("content parts must be objects with a string type")
			}
			if _, ok := part["type"].(string); !ok {
				return "", false, errors.New("content parts must be objects with a string type")
			}
			t, isText := part["text"].(string)
			if part["type"] != "text" || !isText {
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
		return "", false, errors.New("content must be a string or an array of content parts")
	}
}

func (r *Request) checkScalars(fields map[string]any) error {
	for _, name := range numericFields {
		raw, ok := fields[name]
		if !ok || raw == nil {
			continue
		}
		n, ok := raw.(json.Number)
		if !ok {
			return badRequest(name, "%s must be a number", name)
		}
		if name != "n" {
			continue
		}
		f, err := n.Float64()
		if err != nil || f < 1 || f != math.Trunc(f) {
			return badRequest("n", "n must be a positive integer")
		}
		if f > 1 {
			r.BypassReason = "n>1"
		}
	}
	if fields["logprobs"] == true {
		r.BypassReason = "logprobs"
	}
	return nil
}

// canonicalise computes the canonical forms and the embedded prompt.
func (r *Request) canonicalise(fields map[string]any, msgs []any, mode wire.PromptMode) {
	names := make([]string, 0, len(fields))
	for name := range fields {
		if keysOutOfKey[name] {
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)

	last := len(r.Messages) - 1
	lastMsg := r.Messages[last]
	switch {
	case lastMsg.Role != "user":
		r.SemanticReason = "last message is not from the user"
	case !lastMsg.TextOnly:
		r.SemanticReason = "last message has non-text content"
	case strings.TrimSpace(lastMsg.Text) == "":
		r.SemanticReason = "last message is empty"
	}

	full := make([]byte, 0, len(r.Body))
	ctx := make([]byte, 0, len(r.Body))
	full = append(full, '{')
	ctx = append(ctx, '{')
	first := true
	for _, name := range names {
		v := fields[name]
		if v == nil {
			continue
		}
		keyName := name
		if name == "max_completion_tokens" {
			keyName = "max_tokens"
		}
		if def, ok := defaultValues[name]; ok && canon.Equal(v, def) {
			continue
		}
		if !first {
			full = append(full, ',')
			ctx = append(ctx, ',')
		}
		first = false
		full = canon.AppendString(full, keyName)
		full = append(full, ':')
		ctx = canon.AppendString(ctx, keyName)
		ctx = append(ctx, ':')
		if name != "messages" {
			full = canon.Append(full, v)
			ctx = canon.Append(ctx, v)
			continue
		}
		full = appendMessages(full, msgs, len(msgs))
		if r.SemanticReason != "" {
			ctx = appendMessages(ctx, msgs, len(msgs))
			continue
		}
		switch mode {
		case wire.PromptConversation, wire.PromptContext:
			ctx = appendMessages(ctx, msgs, 0, "system", "developer")
		default:
			ctx = appendMessages(ctx, msgs, len(msgs)-1)
		}
	}
	full = append(full, '}')
	ctx = append(ctx, '}')
	r.canonical, r.contextCanon, r.mode = full, ctx, mode

	if r.SemanticReason == "" {
		switch mode {
		case wire.PromptConversation:
			var b strings.Builder
			for _, m := range r.Messages {
				if m.Role != "user" && m.Role != "assistant" {
					continue
				}
				if b.Len() > 0 {
					b.WriteByte('\n')
				}
				b.WriteString(m.Role)
				b.WriteString(": ")
				b.WriteString(strings.TrimSpace(m.Text))
			}
			r.Prompt = b.String()
		case wire.PromptContext:
			r.Prompt = strings.TrimSpace(lastMsg.Text)
			var b strings.Builder
			for _, m := range r.Messages[:last] {
				if m.Role != "user" || strings.TrimSpace(m.Text) == "" {
					continue
				}
				if b.Len() > 0 {
					b.WriteByte('\n')
				}
				b.WriteString(strings.TrimSpace(m.Text))
			}
			r.Context = b.String()
			var turns [][]byte
			words := 0
			for i, m := range r.Messages[:last] {
				if m.Role == "user" || m.Role == "system" || m.Role == "developer" {
					continue
				}
				turns = append(turns, canon.Append(nil, normaliseMessage(msgs[i])))
				if m.Role == "assistant" {
					words += len(strings.Fields(m.Text))
				}
			}
			r.ContextAnswers = cache.ContextAnswersFingerprint(turns, words)
		default:
			r.Prompt = strings.TrimSpace(lastMsg.Text)
		}
	}
}

// appendMessages writes the first n messages (plus, after them, every later
// message whose role is in keepRoles) canonically.
func appendMessages(dst []byte, msgs []any, n int, keepRoles ...string) []byte {
	dst = append(dst, '[')
	wrote := false
	for i, m := range msgs {
		if i >= n {
			obj, _ := m.(map[string]any)
			role, _ := obj["role"].(string)
			if !slices.Contains(keepRoles, role) {
				continue
			}
		}
		if wrote {
			dst = append(dst, ',')
		}
		wrote = true
		dst = canon.Append(dst, normaliseMessage(m))
	}
	return append(dst, ']')
}

// normaliseMessage trims message text, folds a one-text-part content
// array into a plain string, and leaves out null fields and an empty
// annotations list (an answer echoed back by the openai SDKs carries
// "refusal": null and "annotations": [], by others neither).
func normaliseMessage(m any) any {
	obj, ok := m.(map[string]any)
	if !ok {
		return m
	}
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		if v == nil {
			continue
		}
		if a, ok := v.([]any); ok && len(a) == 0 && k == "annotations" {
			continue
		}
		out[k] = v
	}
	switch c := out["content"].(type) {
	case string:
		out["content"] = strings.TrimSpace(c)
	case []any:
		if len(c) == 1 {
			if part, ok := c[0].(map[string]any); ok && part["type"] == "text" && len(part) == 2 {
				if s, ok := part["text"].(string); ok {
					out["content"] = strings.TrimSpace(s)
				}
			}
		}
	}
	return out
}

// Lookup describes r to the cache (the engine adds namespace and salt):
// in context mode the earlier user turns are the prompt's context, which
// the similarity tier embeds with the prompt and the verifier compares.
func (r *Request) Lookup() cache.Lookup {
	return cache.Lookup{Endpoint: Name, Model: r.Model, Key: r.canonical, Prompt: r.Prompt, Context: r.Context,
		ContextAnswers: r.ContextAnswers, Partition: r.contextCanon}
}

// Key returns the exact-tier key of r in namespace ns (tests and tools).
func (r *Request) Key(ns string) cache.Key {
	l := r.Lookup()
	l.Namespace = ns
	return l.ExactKey()
}

// Partition returns the similarity tier's partition of r in ns.
func (r *Request) Partition(ns string) string {
	l := r.Lookup()
	l.Namespace = ns
	return l.PartitionID()
}

// Canonical returns the canonical form of the answer-relevant fields (for
// debugging and tests).
func (r *Request) Canonical() []byte { return r.canonical }
