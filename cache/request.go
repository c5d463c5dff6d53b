package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrBadRequest is wrapped by every *RequestError.
var ErrBadRequest = errors.New("cache: bad request")

// RequestError describes a malformed chat-completion request. The fronts turn
// it into an OpenAI-style 400 error naming Param.
type RequestError struct {
	Param   string
	Message string
}

func (e *RequestError) Error() string {
	if e.Param == "" {
		return "cache: bad request: " + e.Message
	}
	return "cache: bad request: " + e.Param + ": " + e.Message
}

// Unwrap lets errors.Is(err, ErrBadRequest) match.
func (e *RequestError) Unwrap() error { return ErrBadRequest }

func badRequest(param, format string, args ...any) error {
	return &RequestError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// PromptMode chooses what the similarity tier embeds.
type PromptMode string

const (
	// PromptLastMessage embeds the last user message; everything before it
	// (system prompt, earlier turns) goes into the context partition, so a
	// follow-up only matches inside the same conversation prefix.
	PromptLastMessage PromptMode = "last"
	// PromptConversation embeds every user and assistant turn; only the
	// system/developer messages and parameters form the partition.
	PromptConversation PromptMode = "conversation"
	// PromptContext compares the last user message, and the earlier user
	// turns as its context, each with the verifier: "what does it stand
	// for" after "What is the importance of DNA?" matches the same
	// follow-up after "What is the significance of DNA?", never after
	// another opening. The embedded text is both; only system/developer
	// messages and parameters form the partition.
	PromptContext PromptMode = "context"

	// DefaultPromptMode is the mode when none is configured.
	DefaultPromptMode = PromptContext
)

// Valid reports whether m is one of the prompt modes.
func (m PromptMode) Valid() bool {
	return m == PromptContext || m == PromptLastMessage || m == PromptConversation
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

	// Prompt is the text the similarity tier compares ("" when it cannot
	// be used, see SemanticReason).
	Prompt string
	// Context is the earlier user turns, joined by newlines, in context
	// mode ("" otherwise, or for a first turn): the verifier compares it
	// too.
	Context string
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
// once; everything else is derived from that tree.
func ParseRequest(body []byte, mode PromptMode) (*Request, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("", "request body is empty; expected a JSON object")
	}
	if !utf8.Valid(body) {
		return nil, badRequest("", "request body is not valid UTF-8")
	}
	v, err := decodeValue(body)
	if err != nil {
		return nil, badRequest("", "request body is not valid JSON: %s", jsonErrorText(err))
	}
	fields, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("", "request body must be a JSON object")
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
func (r *Request) canonicalise(fields map[string]any, msgs []any, mode PromptMode) {
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
		if def, ok := defaultValues[name]; ok {
			if n, isNum := v.(json.Number); isNum {
				if f, err := n.Float64(); err == nil && f == def {
					continue
				}
			}
		}
		if !first {
			full = append(full, ',')
			ctx = append(ctx, ',')
		}
		first = false
		full = appendString(full, keyName)
		full = append(full, ':')
		ctx = appendString(ctx, keyName)
		ctx = append(ctx, ':')
		if name != "messages" {
			full = appendCanonical(full, v)
			ctx = appendCanonical(ctx, v)
			continue
		}
		full = appendMessages(full, msgs, len(msgs))
		if r.SemanticReason != "" {
			ctx = appendMessages(ctx, msgs, len(msgs))
			continue
		}
		switch mode {
		case PromptConversation, PromptContext:
			ctx = appendMessages(ctx, msgs, 0, "system", "developer")
		default:
			ctx = appendMessages(ctx, msgs, len(msgs)-1)
		}
	}
	full = append(full, '}')
	ctx = append(ctx, '}')
	r.canonical, r.contextCanon = full, ctx

	if r.SemanticReason == "" {
		switch mode {
		case PromptConversation:
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
		case PromptContext:
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
		dst = appendCanonical(dst, normaliseMessage(m))
	}
	return append(dst, ']')
}

// normaliseMessage trims message text and folds a one-text-part content
// array into a plain string.
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

// Key is the exact-tier key of a request within a namespace.
type Key [32]byte

// String is the key in hex.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// EntryID is the short, stable id of the entry a key names.
func (k Key) EntryID() string { return hex.EncodeToString(k[:12]) }

// Key returns the exact-tier key of r in namespace ns.
func (r *Request) Key(ns string) Key { return r.SaltedKey(ns, "") }

// SaltedKey is Key with extra answer-shaping context that is not in the
// body, such as the version of the RAG collection injected upstream.
func (r *Request) SaltedKey(ns, salt string) Key {
	var k Key
	saltedHash("semcache/v1", ns, salt, r.canonical, k[:0])
	return k
}

// Partition returns the similarity tier's context partition of r in ns:
// everything that shapes the answer except the embedded prompt.
func (r *Request) Partition(ns string) string { return r.SaltedPartition(ns, "") }

// SaltedPartition is Partition with the same salt as SaltedKey.
func (r *Request) SaltedPartition(ns, salt string) string {
	return hex.EncodeToString(saltedHash("semcache/partition/v1", ns, salt, r.contextCanon, nil)[:16])
}

// saltedHash appends SHA-256(domain, ns, salt, data) to dst; the salt is
// left out entirely when empty so unsalted keys stay stable.
func saltedHash(domain, ns, salt string, data, dst []byte) []byte {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write([]byte(ns))
	h.Write([]byte{0})
	if salt != "" {
		h.Write([]byte("salt\x00"))
		h.Write([]byte(salt))
		h.Write([]byte{0})
	}
	h.Write(data)
	return h.Sum(dst)
}

// Canonical returns the canonical form of the answer-relevant fields (for
// debugging and tests).
func (r *Request) Canonical() []byte { return r.canonical }

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "expected an object, got " + te.Value
	}
	return err.Error()
}

// EmbedText is what the similarity tier embeds to find candidates: the
// prompt, after its context when it has one (so the candidates of a
// follow-up come from conversations like this one).
func (r *Request) EmbedText() string { return EmbedText(r.Prompt, r.Context) }

// EmbedText joins a context and a prompt as the similarity tier embeds
// them.
func EmbedText(prompt, context string) string {
	if context == "" {
		return prompt
	}
	return context + "\n" + prompt
}
