package upstream

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"unicode/utf8"
)

// fillerText lists the words that pad answers after the "Answer-<hash> about
// <topic>" header. The order matters: the words picked for an answer depend
// on it.
const fillerText = `cache vector latency token stream proxy embedding model
request response semantic exact tier verifier context prompt
result answer index cosine similar store fresh stale
budget throughput hit miss upstream client server chunk
delta usage window query document passage retrieval score
threshold policy eviction memory disk network quickly safely
clearly often rarely always never maybe because therefore
however moreover simple robust careful bright steady gentle`

const (
	topicWords     = 6  // words of the last user message echoed in the answer header
	echoPieceBytes = 16 // size of one streamed piece of an [[sim:echo]] answer
	toolArgPieces  = 3  // pieces the tool-call arguments are streamed in
	defaultTool    = "lookup"
)

// plan is everything the simulator will send for one chat request, decided
// before the first byte is written so stream and non-stream agree.
type plan struct {
	sum          [32]byte
	pieces       []string // content deltas; concatenated they are the content
	toolCall     *toolCall
	argPieces    []string // tool-call arguments deltas
	finishReason string
	promptTokens int
	ctl          controls
}

func (p plan) content() string { return strings.Join(p.pieces, "") }

func (p plan) completionTokens() int {
	if p.toolCall != nil {
		return len(p.argPieces)
	}
	return len(p.pieces)
}

func (p plan) usage() usage {
	return usage{
		PromptTokens:     p.promptTokens,
		CompletionTokens: p.completionTokens(),
		TotalTokens:      p.promptTokens + p.completionTokens(),
	}
}

// hashInput is the canonical form of the request fields the answer depends
// on: model, messages and sampling parameters, but not stream, stream_options
// or max_tokens (which only truncates the same answer).
type hashInput struct {
	Model            string          `json:"model"`
	Messages         []hashMessage   `json:"messages"`
	Temperature      *float64        `json:"temperature"`
	TopP             *float64        `json:"top_p"`
	Seed             *int64          `json:"seed"`
	PresencePenalty  *float64        `json:"presence_penalty"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	Stop             json.RawMessage `json:"stop,omitempty"`
	ToolChoice       json.RawMessage `json:"tool_choice,omitempty"`
	ResponseFormat   json.RawMessage `json:"response_format,omitempty"`
	Tools            []string        `json:"tools"`
}

type hashMessage struct {
	Role       string          `json:"role"`
	Name       string          `json:"name"`
	Text       string          `json:"text"`
	ToolCallID string          `json:"tool_call_id"`
	ToolCalls  json.RawMessage `json:"tool_calls,omitempty"`
}

func requestHash(req *chatRequest, msgs []chatMessage) [32]byte {
	in := hashInput{
		Model: req.Model, Temperature: req.Temperature, TopP: req.TopP, Seed: req.Seed,
		PresencePenalty: req.PresencePenalty, FrequencyPenalty: req.FrequencyPenalty,
		Stop: req.Stop, ToolChoice: req.ToolChoice, ResponseFormat: req.ResponseFormat,
	}
	for _, m := range msgs {
		in.Messages = append(in.Messages, hashMessage{
			Role: m.Role, Name: m.Name, Text: m.Content.Text, ToolCallID: m.ToolCallID, ToolCalls: m.ToolCalls,
		})
	}
	for _, t := range req.Tools {
		in.Tools = append(in.Tools, t.Function.Name)
	}
	// Marshalling typed structs cannot fail; RawMessage fields were validated
	// (and are compacted) by the request decoder.
	b, err := json.Marshal(in)
	if err != nil {
		b = []byte(err.Error())
	}
	return sha256.Sum256(b)
}

// answerWords builds the deterministic answer: "Answer-<8 hex> about <first
// words of the prompt>" followed by filler words picked by the hash, n words
// in all.
func answerWords(sum [32]byte, prompt string, n int, filler []string) []string {
	words := make([]string, 0, n)
	words = append(words, "Answer-"+hex.EncodeToString(sum[:4]), "about")
	topic := strings.Fields(stripMarkers(prompt))
	words = append(words, topic[:min(len(topic), topicWords)]...)
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[8:16]), binary.LittleEndian.Uint64(sum[16:24])))
	for len(words) < n {
		words = append(words, filler[rng.IntN(len(filler))])
	}
	return words[:n]
}

// wordPieces turns words into stream deltas: every word but the first keeps
// its leading space.
func wordPieces(words []string) []string {
	pieces := make([]string, len(words))
	for i, w := range words {
		if i > 0 {
			w = " " + w
		}
		pieces[i] = w
	}
	return pieces
}

// splitRunes cuts s into n roughly equal pieces (at rune boundaries) when
// n > 0, or into pieces of at most size bytes when n == 0.
func splitRunes(s string, n, size int) []string {
	if n > 0 {
		size = max(1, (len(s)+n-1)/n)
	}
	var pieces []string
	for len(s) > 0 {
		end := min(size, len(s))
		for end < len(s) && !utf8.RuneStart(s[end]) {
			end++
		}
		pieces = append(pieces, s[:end])
		s = s[end:]
	}
	return pieces
}

// toolArguments is the JSON object the [[sim:tools]] call passes.
type toolArguments struct {
	Query string `json:"query"`
	Ref   string `json:"ref"`
}

// planInput is what an answer depends on, whatever the endpoint.
type planInput struct {
	sum          [32]byte        // hash of every field that changes the answer
	prompt       string          // text of the last user message (markers included)
	promptTokens int             // words in every message of the conversation
	toolName     string          // first declared function tool; "" means defaultTool
	echo         json.RawMessage // what [[sim:echo]] answers, compacted
	tokenLimit   int             // answer words allowed; 0 means no limit
	messages     []Message       // the conversation, for an Answerer
}

// makePlan decides the answer for a validated chat request. A non-nil
// answerer writes the content of ordinary answers.
func makePlan(req *chatRequest, msgs []chatMessage, ctl controls, answerTokens int, filler []string, answerer Answerer) plan {
	in := planInput{sum: requestHash(req, msgs), prompt: lastUserText(msgs), echo: req.Messages, tokenLimit: req.tokenLimit()}
	for _, m := range msgs {
		in.promptTokens += len(strings.Fields(m.Content.Text))
		in.messages = append(in.messages, Message{Role: m.Role, Text: m.Content.Text})
	}
	if len(req.Tools) > 0 {
		in.toolName = req.Tools[0].Function.Name
	}
	return buildPlan(in, ctl, answerTokens, filler, answerer)
}

// buildPlan decides the answer: a tool call, the echo, the answerer's text
// or the hashed words, then applies the markers that shorten or end it.
func buildPlan(in planInput, ctl controls, answerTokens int, filler []string, answerer Answerer) plan {
	p := plan{sum: in.sum, finishReason: "stop", ctl: ctl, promptTokens: in.promptTokens}
	switch {
	case ctl.tools:
		name := in.toolName
		if name == "" {
			name = defaultTool
		}
		args, err := json.Marshal(toolArguments{
			Query: strings.Join(strings.Fields(stripMarkers(in.prompt)), " "),
			Ref:   hex.EncodeToString(p.sum[:4]),
		})
		if err != nil {
			args = []byte("{}")
		}
		p.toolCall = &toolCall{
			ID:       "call_" + hex.EncodeToString(p.sum[4:16]),
			Type:     "function",
			Function: functionCall{Name: name, Arguments: string(args)},
		}
		p.argPieces = splitRunes(string(args), toolArgPieces, 0)
		p.finishReason = "tool_calls"
		return p
	case ctl.echo:
		var b bytes.Buffer
		if err := json.Compact(&b, in.echo); err != nil {
			b.Reset()
			b.Write(in.echo)
		}
		p.pieces = splitRunes(b.String(), 0, echoPieceBytes)
	case answerer != nil:
		p.pieces = splitRunes(answerer.Answer(in.messages), 0, echoPieceBytes)
		if len(p.pieces) == 0 {
			p.pieces = []string{""}
		}
	default:
		p.pieces = wordPieces(answerWords(p.sum, in.prompt, answerTokens, filler))
		if in.tokenLimit > 0 && in.tokenLimit < len(p.pieces) {
			p.pieces = p.pieces[:in.tokenLimit]
			p.finishReason = "length"
		}
	}
	switch {
	case ctl.filter:
		p.pieces = p.pieces[:len(p.pieces)/2]
		p.finishReason = "content_filter"
	case ctl.length:
		p.finishReason = "length"
	}
	return p
}

// tokenLimit is max_completion_tokens, else max_tokens, else 0 (no limit).
func (r *chatRequest) tokenLimit() int {
	switch {
	case r.MaxCompletionTokens != nil:
		return *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		return *r.MaxTokens
	}
	return 0
}

// lastUserText is the text of the last message with role "user".
func lastUserText(msgs []chatMessage) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content.Text
		}
	}
	return ""
}
