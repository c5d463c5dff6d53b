// Package embeddings is the wire format of POST /v1/embeddings, cached per
// input: a batch whose inputs were partly seen before asks the upstream
// only for the others and is answered with every vector, in order.
//
// # What is in the key
//
// One key per input: the input (a string, or an array of token ids), the
// model, dimensions, and any field this package does not know. Out of the
// key: encoding_format (vectors are stored as float32 and rendered as a
// float array or base64, whichever the request asks for; the official
// Node client asks for base64 unless told otherwise) and user. There is no
// similarity tier: the embedding of a paraphrase is not the same vector.
//
// # Usage
//
// A reply's usage is what an uncached call would report: the tokens of
// the inputs fetched now (the upstream's usage) plus, for each cached
// input, the tokens it cost when it was fetched. When a batch is fetched,
// its prompt tokens are split among its inputs by length (token arrays
// count their tokens exactly); the split only matters for the
// tokens-saved metric and for later partial hits.
package embeddings

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/canon"
)

// Name is this API's name in cache entries and route labels; Path is
// where it is served.
const (
	Name = "embeddings"
	Path = "/v1/embeddings"
)

// keysOutOfKey change only the encoding or bookkeeping.
var keysOutOfKey = map[string]bool{"encoding_format": true, "user": true, "input": true}

// Request is a parsed, validated embeddings request.
type Request struct {
	Body  []byte
	Model string
	// Base64 is true when the request asks for encoding_format base64.
	Base64 bool
	// Inputs are the inputs, a string or a []any of json.Number token ids
	// each.
	Inputs []any

	fields map[string]any
	keys   [][]byte
}

// ParseRequest validates an embeddings body. Errors are
// *wire.RequestError.
func ParseRequest(body []byte) (*Request, error) {
	fields, err := canon.Object(body)
	if err != nil {
		return nil, wire.BadRequest("", "%s", err.Error())
	}
	r := &Request{Body: body, fields: fields}
	m, ok := fields["model"].(string)
	if !ok || strings.TrimSpace(m) == "" {
		return nil, wire.BadRequest("model", "you must provide a model parameter")
	}
	r.Model = m
	switch f := fields["encoding_format"].(type) {
	case nil:
	case string:
		switch f {
		case "float":
		case "base64":
			r.Base64 = true
		default:
			return nil, wire.BadRequest("encoding_format", "Invalid value for 'encoding_format': %q. Supported values are: 'float' and 'base64'.", f)
		}
	default:
		return nil, wire.BadRequest("encoding_format", "encoding_format must be a string")
	}
	if d, ok := fields["dimensions"]; ok && d != nil {
		if _, isNum := d.(json.Number); !isNum {
			return nil, wire.BadRequest("dimensions", "dimensions must be a number")
		}
	}
	if err := r.parseInputs(fields["input"]); err != nil {
		return nil, err
	}
	r.canonicalise(fields)
	return r, nil
}

// parseInputs reads a string, an array of strings, an array of token ids
// or an array of token-id arrays.
func (r *Request) parseInputs(raw any) error {
	switch in := raw.(type) {
	case nil:
		return wire.BadRequest("input", "Missing required parameter: 'input'.")
	case string:
		if in == "" {
			return wire.BadRequest("input", "'$.input' is invalid: empty string.")
		}
		r.Inputs = []any{in}
		return nil
	case []any:
		if len(in) == 0 {
			return wire.BadRequest("input", "'$.input' is invalid: empty array.")
		}
		if isTokens(in) {
			r.Inputs = []any{in}
			return nil
		}
		for i, v := range in {
			param := "input[" + strconv.Itoa(i) + "]"
			switch x := v.(type) {
			case string:
				if x == "" {
					return wire.BadRequest("input", "'$.%s' is invalid: empty string.", param)
				}
			case []any:
				if len(x) == 0 || !isTokens(x) {
					return wire.BadRequest("input", "'$.%s' must be a string or a non-empty array of token ids.", param)
				}
			default:
				return wire.BadRequest("input", "'$.%s' must be a string or an array of token ids.", param)
			}
		}
		r.Inputs = in
		return nil
	default:
		return wire.BadRequest("input", "input must be a string or an array")
	}
}

// isTokens reports whether a is a non-empty array of integers.
func isTokens(a []any) bool {
	for _, v := range a {
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		if _, err := n.Int64(); err != nil {
			return false
		}
	}
	return len(a) > 0
}

// canonicalise computes each input's key material: the input with every
// answer-shaping field.
func (r *Request) canonicalise(fields map[string]any) {
	names := make([]string, 0, len(fields))
	for name := range fields {
		if !keysOutOfKey[name] && fields[name] != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	common := make([]byte, 0, 128)
	for _, name := range names {
		common = append(common, ',')
		common = canon.AppendString(common, name)
		common = append(common, ':')
		common = canon.Append(common, fields[name])
	}
	r.keys = make([][]byte, len(r.Inputs))
	for i, in := range r.Inputs {
		k := make([]byte, 0, len(common)+64)
		k = append(k, `{"input":`...)
		k = canon.Append(k, in)
		k = append(k, common...)
		r.keys[i] = append(k, '}')
	}
}

// Items describes one cacheable answer per input (exact tier only).
func (r *Request) Items() []cache.Lookup {
	out := make([]cache.Lookup, len(r.Inputs))
	for i := range r.Inputs {
		out[i] = cache.Lookup{Endpoint: Name, Model: r.Model, Key: r.keys[i], SkipSemantic: true}
	}
	return out
}

// Bypass: every embeddings request may be cached.
func (r *Request) Bypass() string { return "" }

// Variant is the encoding the reply is rendered in.
func (r *Request) Variant() string {
	if r.Base64 {
		return "base64"
	}
	return "float"
}

// Summary is a short text for the dashboard.
func (r *Request) Summary() string {
	text := inputText(r.Inputs[0])
	if len(r.Inputs) > 1 {
		return fmt.Sprintf("%d inputs: %s, …", len(r.Inputs), text)
	}
	return text
}

func inputText(in any) string {
	if s, ok := in.(string); ok {
		return s
	}
	return fmt.Sprintf("[%d tokens]", len(in.([]any)))
}

// UpstreamBody returns the body asking for the inputs at missing only (nil
// when that is every input).
func (r *Request) UpstreamBody(missing []int) ([]byte, error) {
	if len(missing) == len(r.Inputs) {
		return nil, nil
	}
	fields := make(map[string]any, len(r.fields))
	for k, v := range r.fields {
		fields[k] = v
	}
	sub := make([]any, len(missing))
	for n, i := range missing {
		sub[n] = r.Inputs[i]
	}
	fields["input"] = sub
	return json.Marshal(fields)
}

// payload is what an embeddings answer stores: the vector as base64
// little-endian float32s.
type payload struct {
	Vector string `json:"vector"`
}

// Assembler reads an upstream embeddings list and splits it into one
// answer per requested input.
type Assembler struct {
	r       *Request
	missing []int
	body    bytes.Buffer
	over    bool
}

var _ wire.Assembler = (*Assembler)(nil)

// Assembler observes the upstream answer to the inputs at missing.
func (r *Request) Assembler(stream bool, missing []int) wire.Assembler {
	return &Assembler{r: r, missing: missing}
}

// Write feeds upstream body bytes; it never fails.
func (a *Assembler) Write(p []byte) (int, error) {
	if a.over || a.body.Len()+len(p) > 4*wire.MaxAnswerBytes {
		a.over = true
		a.body.Reset()
		return len(p), nil
	}
	a.body.Write(p)
	return len(p), nil
}

// Complete is false: a JSON answer is complete only when it ended.
func (a *Assembler) Complete() bool { return false }

type listBody struct {
	Data []struct {
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Model string `json:"model"`
	Usage *struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// Answers returns one answer per requested input, in request order, or an
// error wrapping wire.ErrNotCacheable.
func (a *Assembler) Answers(clean bool) ([]cache.Answer, error) {
	switch {
	case a.over:
		return nil, wire.NotCacheable("answer larger than %d bytes", 4*wire.MaxAnswerBytes)
	case !clean:
		return nil, wire.NotCacheable("body incomplete")
	}
	var l listBody
	if err := json.Unmarshal(a.body.Bytes(), &l); err != nil {
		return nil, wire.NotCacheable("malformed embeddings list")
	}
	if canon.Present(l.Error) {
		return nil, wire.NotCacheable("upstream error body")
	}
	if len(l.Data) != len(a.missing) {
		return nil, wire.NotCacheable("%d embeddings for %d inputs", len(l.Data), len(a.missing))
	}
	vecs := make([][]float32, len(a.missing))
	for _, d := range l.Data {
		if d.Index < 0 || d.Index >= len(vecs) || vecs[d.Index] != nil {
			return nil, wire.NotCacheable("embedding index %d out of place", d.Index)
		}
		v, err := decodeVector(d.Embedding)
		if err != nil {
			return nil, wire.NotCacheable("embedding %d: %v", d.Index, err)
		}
		vecs[d.Index] = v
	}
	tokens := 0
	if l.Usage != nil {
		tokens = l.Usage.PromptTokens
	}
	shares := a.shares(tokens)
	out := make([]cache.Answer, len(a.missing))
	for n, i := range a.missing {
		p, _ := json.Marshal(payload{Vector: base64.StdEncoding.EncodeToString(float32Bytes(vecs[n]))})
		out[n] = cache.Answer{Endpoint: Name, Model: l.Model, Text: inputText(a.r.Inputs[i]), Payload: p,
			Usage: &cache.Usage{PromptTokens: shares[n], TotalTokens: shares[n]}}
	}
	return out, nil
}

// shares splits a batch's prompt tokens among its inputs: token arrays
// count their own tokens, strings share the rest by length (largest
// remainder, so the shares add up to the total).
func (a *Assembler) shares(total int) []int {
	out := make([]int, len(a.missing))
	weights := make([]int, len(a.missing))
	sum := 0
	for n, i := range a.missing {
		switch in := a.r.Inputs[i].(type) {
		case string:
			weights[n] = max(1, utf8.RuneCountInString(in))
		case []any:
			out[n] = len(in)
			total -= len(in)
		}
		sum += weights[n]
	}
	if total <= 0 || sum == 0 {
		return out
	}
	given := 0
	rem := make([]int, len(out))
	for n, w := range weights {
		out[n] += total * w / sum
		given += total * w / sum
		rem[n] = total * w % sum
	}
	order := make([]int, len(out))
	for n := range order {
		order[n] = n
	}
	slices.SortStableFunc(order, func(x, y int) int { return rem[y] - rem[x] })
	for k := 0; given < total && k < len(order); k++ {
		if weights[order[k]] > 0 {
			out[order[k]]++
			given++
		}
	}
	return out
}

// decodeVector reads a float array or a base64 string of little-endian
// float32s.
func decodeVector(raw json.RawMessage) ([]float32, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b)%4 != 0 || len(b) == 0 {
			return nil, fmt.Errorf("bad base64 vector")
		}
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			if f := float64(v[i]); math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("vector holds NaN or Inf")
			}
		}
		return v, nil
	}
	var f []float64
	if err := json.Unmarshal(raw, &f); err != nil || len(f) == 0 {
		return nil, fmt.Errorf("not a vector")
	}
	v := make([]float32, len(f))
	for i, x := range f {
		v[i] = float32(x)
		if math.IsInf(float64(v[i]), 0) {
			return nil, fmt.Errorf("vector component out of float32 range")
		}
	}
	return v, nil
}

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// Render renders one stored answer per input as an embeddings list in the
// requested encoding. usage adds up the answers' tokens (see the package
// comment): with o.ZeroUsage only those of the answers fetched for this
// reply, the stored answers' tokens going into the marker's saved_usage.
func (r *Request) Render(answers []*cache.Answer, o wire.RenderOptions) (contentType string, body []byte, err error) {
	if len(answers) != len(r.Inputs) {
		return "", nil, fmt.Errorf("embeddings: render %d answers for %d inputs", len(answers), len(r.Inputs))
	}
	model := r.Model
	vecs := make([]*renderedVector, len(answers))
	size := 128 + len(model)
	for i, a := range answers {
		v, err := a.Decoded(func() (any, error) { return decodeAnswer(a) })
		if err != nil {
			return "", nil, err
		}
		vecs[i] = v.(*renderedVector)
		size += 64 + max(len(vecs[i].base64), len(vecs[i].floats))
	}
	out := make([]byte, 0, size)
	out = append(out, `{"object":"list","data":[`...)
	tokens, saved := 0, 0
	for i, a := range answers {
		vec := vecs[i]
		if i == 0 && a.Model != "" {
			model = a.Model
		}
		if a.Usage != nil {
			if o.Counted(i) {
				tokens += a.Usage.PromptTokens
			} else {
				saved += a.Usage.PromptTokens
			}
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"object":"embedding","index":`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, `,"embedding":`...)
		if r.Base64 {
			out = append(out, vec.base64...)
		} else {
			out = append(out, vec.floats...)
		}
		out = append(out, '}')
	}
	out = append(out, `],"model":`...)
	out = canon.AppendString(out, model)
	out = append(out, `,"usage":{"prompt_tokens":`...)
	out = strconv.AppendInt(out, int64(tokens), 10)
	out = append(out, `,"total_tokens":`...)
	out = strconv.AppendInt(out, int64(tokens), 10)
	out = append(out, "}}"...)
	var savedJSON json.RawMessage
	if o.ZeroUsage {
		savedJSON = fmt.Appendf(nil, `{"prompt_tokens":%d,"total_tokens":%d}`, saved, saved)
	}
	return "application/json", wire.AppendMember(out, o.MarkerJSON(savedJSON)), nil
}

// renderedVector is a stored vector in both encodings, ready to append
// (kept with the cache entry, see cache.Answer.Decoded).
type renderedVector struct {
	base64, floats []byte
}

func decodeAnswer(a *cache.Answer) (*renderedVector, error) {
	if a.Endpoint != Name {
		return nil, fmt.Errorf("embeddings: answer of endpoint %q", a.Endpoint)
	}
	var p payload
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		return nil, fmt.Errorf("embeddings: decode stored answer: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(p.Vector)
	if err != nil || len(raw)%4 != 0 {
		return nil, fmt.Errorf("embeddings: stored vector is not base64 float32")
	}
	v := &renderedVector{base64: canon.AppendString(nil, p.Vector), floats: make([]byte, 0, len(raw)*3)}
	v.floats = append(v.floats, '[')
	for j := 0; j < len(raw); j += 4 {
		if j > 0 {
			v.floats = append(v.floats, ',')
		}
		v.floats = strconv.AppendFloat(v.floats, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[j:]))), 'g', -1, 32)
	}
	v.floats = append(v.floats, ']')
	return v, nil
}
