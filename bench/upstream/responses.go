package upstream

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Values the response object reports when the request leaves them out, as
// the API does.
const (
	defaultTemperature = 1.0
	defaultTopP        = 1.0
	defaultVerbosity   = "medium"
	defaultServiceTier = "default"
	defaultTruncation  = "disabled"
	failedMessage      = "The model failed to generate a response. (simulated)"
	defaultToolChoice  = `"auto"`
	defaultTextFormat  = `{"type":"text"}`
	defaultReasoning   = `{"effort":null,"summary":null}`
)

// responsesHashInput is the canonical form of what a Responses answer
// depends on. API keeps the answers apart from chat's for the same prompt,
// so a proxy that mixes up the two endpoints shows different text.
type responsesHashInput struct {
	API          string          `json:"api"`
	Model        string          `json:"model"`
	Instructions *string         `json:"instructions"`
	Items        []convItem      `json:"items"`
	Temperature  *float64        `json:"temperature"`
	TopP         *float64        `json:"top_p"`
	ToolChoice   json.RawMessage `json:"tool_choice,omitempty"`
	TextFormat   json.RawMessage `json:"text_format,omitempty"`
	Reasoning    json.RawMessage `json:"reasoning,omitempty"`
	Tools        []string        `json:"tools"`
}

// responseRun is everything decided for one Responses request before the
// first byte is written, so stream and non-stream agree.
type responseRun struct {
	turn      *responsesTurn
	conv      []convItem // history from previous_response_id, then this input
	p         plan
	id        string
	msgID     string
	fcID      string
	createdAt int64
	obfuscate bool
}

func (s *Server) handleResponses(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	s.record(PathResponses, body, r.Header)

	turn, rerr := parseResponses(body)
	if rerr != nil {
		rerr.write(w)
		return
	}
	var history []convItem
	if prev := turn.req.PreviousResponseID; prev != nil {
		conv, found := s.storedConversation(*prev)
		if !found {
			badRequest("previous_response_id", "previous_response_not_found",
				"Previous response with id '%s' not found.", *prev).write(w)
			return
		}
		history = conv
	}
	if rerr := checkCallOutputs(history, turn.items); rerr != nil {
		rerr.write(w)
		return
	}
	if s.injectError() {
		typ, msg, code := statusError(http.StatusInternalServerError)
		writeError(w, http.StatusInternalServerError, typ, "", msg, code)
		return
	}
	prompt, answered := lastUserTurn(turn.items)
	ctl, err := parseControls(prompt)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "input", err.Error(), "invalid_sim_marker")
		return
	}
	if ctl.status != 0 {
		typ, msg, code := statusError(ctl.status)
		writeError(w, ctl.status, typ, "", msg, code)
		return
	}
	if answered {
		// A tool result follows the user message: answer it with text.
		ctl.tools = false
	}
	run := s.planResponse(turn, history, ctl)
	w.Header().Set("X-Request-Id", s.nextID("req_sim"))
	if turn.req.Stream {
		s.streamResponse(w, r, run)
		return
	}
	s.completeResponse(w, r, run)
}

// lastUserTurn returns the text of the last user message of items and
// whether a function_call_output follows it.
func lastUserTurn(items []convItem) (text string, answered bool) {
	for i := len(items) - 1; i >= 0; i-- {
		switch it := items[i]; {
		case it.Kind == "function_call_output":
			answered = true
		case it.Kind == "message" && it.Role == "user":
			return it.Text, answered
		}
	}
	return "", answered
}

func (s *Server) planResponse(turn *responsesTurn, history []convItem, ctl controls) responseRun {
	req := turn.req
	conv := slices.Concat(history, turn.items)
	in := responsesHashInput{
		API: "responses", Model: req.Model, Instructions: req.Instructions, Items: conv,
		Temperature: req.Temperature, TopP: req.TopP, ToolChoice: req.ToolChoice, Reasoning: req.Reasoning,
		Tools: []string{},
	}
	if req.Text != nil {
		in.TextFormat = req.Text.Format
	}
	pin := planInput{tokenLimit: derefOr(req.MaxOutputTokens, 0)}
	for _, t := range turn.tools {
		in.Tools = append(in.Tools, t.Type+":"+t.Name)
		if pin.toolName == "" && t.Type == "function" {
			pin.toolName = t.Name
		}
	}
	b, err := json.Marshal(in) // typed structs and validated raw JSON: cannot fail
	if err != nil {
		b = []byte(err.Error())
	}
	pin.sum = sha256.Sum256(b)
	for i := len(conv) - 1; i >= 0; i-- {
		if conv[i].Kind == "message" && conv[i].Role == "user" {
			pin.prompt = conv[i].Text
			break
		}
	}
	if req.Instructions != nil {
		pin.promptTokens += len(strings.Fields(*req.Instructions))
	}
	for _, it := range conv {
		pin.promptTokens += len(strings.Fields(it.Text))
		if it.Kind == "message" {
			pin.messages = append(pin.messages, Message{Role: it.Role, Text: it.Text})
		}
	}
	echo, err := marshalNoEscape(echoBody{Instructions: req.Instructions, Input: req.Input})
	if err != nil {
		echo = req.Input
	}
	pin.echo = echo
	p := buildPlan(pin, ctl, s.opts.AnswerTokens, s.filler, s.opts.Answerer)
	run := responseRun{
		turn: turn, conv: conv, p: p,
		id:        s.nextID("resp_sim"),
		msgID:     s.nextID("msg_sim"),
		fcID:      "fc_" + hex.EncodeToString(p.sum[16:28]),
		createdAt: s.opts.Now().Unix(),
		obfuscate: req.StreamOptions == nil || req.StreamOptions.IncludeObfuscation == nil || *req.StreamOptions.IncludeObfuscation,
	}
	return run
}

func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// object returns the response object with the request's settings echoed and
// the given status; output, usage and the outcome fields are left empty.
func (run responseRun) object(status string) responseObject {
	req := run.turn.req
	o := responseObject{
		ID: run.id, Object: "response", CreatedAt: run.createdAt, Status: status,
		Instructions: req.Instructions, MaxOutputTokens: req.MaxOutputTokens, MaxToolCalls: req.MaxToolCalls,
		Model: req.Model, Output: []outputItem{}, ParallelToolCalls: derefOr(req.ParallelToolCalls, true),
		PreviousResponseID: req.PreviousResponseID, PromptCacheKey: req.PromptCacheKey,
		Reasoning: json.RawMessage(defaultReasoning), SafetyIdentifier: req.SafetyIdentifier, ServiceTier: defaultServiceTier,
		Store:       derefOr(req.Store, true),
		Temperature: derefOr(req.Temperature, defaultTemperature),
		Text:        responsesTextConfig{Format: json.RawMessage(defaultTextFormat), Verbosity: new(defaultVerbosity)},
		ToolChoice:  json.RawMessage(defaultToolChoice), Tools: req.Tools, TopLogprobs: derefOr(req.TopLogprobs, 0),
		TopP: derefOr(req.TopP, defaultTopP), Truncation: derefOr(req.Truncation, defaultTruncation),
		User: req.User, Metadata: req.Metadata,
	}
	if !isNull(req.Reasoning) {
		o.Reasoning = req.Reasoning
	}
	if req.Text != nil {
		if !isNull(req.Text.Format) {
			o.Text.Format = req.Text.Format
		}
		if req.Text.Verbosity != nil {
			o.Text.Verbosity = req.Text.Verbosity
		}
	}
	if !isNull(req.ToolChoice) {
		o.ToolChoice = req.ToolChoice
	}
	if t := req.ServiceTier; t != nil && *t != "auto" {
		o.ServiceTier = *t
	}
	if o.Tools == nil {
		o.Tools = []json.RawMessage{}
	}
	if o.Metadata == nil {
		o.Metadata = map[string]string{}
	}
	return o
}

// outcome maps the plan's finish reason to the response and item status.
func (run responseRun) outcome() (status string, details *incompleteDetails) {
	switch run.p.finishReason {
	case "length":
		return "incomplete", &incompleteDetails{Reason: "max_output_tokens"}
	case "content_filter":
		return "incomplete", &incompleteDetails{Reason: "content_filter"}
	}
	return "completed", nil
}

// outputItem is the finished output item.
func (run responseRun) outputItem() outputItem {
	if tc := run.p.toolCall; tc != nil {
		return outputItem{Call: &functionCallItem{
			ID: run.fcID, Type: "function_call", Status: "completed",
			Arguments: tc.Function.Arguments, CallID: tc.ID, Name: tc.Function.Name,
		}}
	}
	status, _ := run.outcome()
	return outputItem{Message: &messageItem{
		ID: run.msgID, Type: "message", Status: status, Role: "assistant",
		Content: []outputText{newOutputText(run.p.content())},
	}}
}

// final is the finished response object.
func (run responseRun) final(completedAt int64) responseObject {
	status, details := run.outcome()
	o := run.object(status)
	o.IncompleteDetails = details
	o.Output = []outputItem{run.outputItem()}
	u := run.p.usage()
	o.Usage = &responseUsage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
	if status == "completed" {
		o.CompletedAt = &completedAt
	}
	return o
}

// failed is the response object of response.failed.
func (run responseRun) failed() responseObject {
	o := run.object("failed")
	o.Error = &responseError{Code: "server_error", Message: failedMessage}
	return o
}

// store remembers the conversation including this response's output.
func (s *Server) storeRun(run responseRun) {
	if !derefOr(run.turn.req.Store, true) {
		return
	}
	out := convItem{Kind: "message", Role: "assistant", Text: run.p.content()}
	if tc := run.p.toolCall; tc != nil {
		out = convItem{Kind: "function_call", CallID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments}
	}
	s.storeResponse(run.id, append(slices.Clip(run.conv), out))
}

// completeResponse answers a non-streaming request after the simulated
// generation time.
func (s *Server) completeResponse(w http.ResponseWriter, r *http.Request, run responseRun) {
	p := run.p
	words := max(0, p.completionTokens()-1)
	delay := s.opts.TTFT + p.ctl.hold + time.Duration(words)*(s.perToken+p.ctl.slow)
	if !wait(r.Context(), delay) {
		s.canceled.Add(1)
		return
	}
	if p.ctl.midstreamError || p.ctl.failed {
		typ, msg, code := statusError(http.StatusInternalServerError)
		writeError(w, http.StatusInternalServerError, typ, "", msg, code)
		return
	}
	obj := run.final(s.opts.Now().Unix())
	if !p.ctl.cut {
		writeJSON(w, http.StatusOK, obj)
		s.storeRun(run)
		return
	}
	b, err := json.Marshal(obj)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "", "upstream: encode response: "+err.Error(), "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b[:len(b)/2])
	_ = http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// responseStream numbers and writes the events of one streamed response.
type responseStream struct {
	sw  sseWriter
	seq int
	sum [32]byte
	obf bool
}

func (rs *responseStream) send(ev responseEvent) error {
	ev.SequenceNumber = rs.seq
	rs.seq++
	if rs.obf && ev.Delta != nil {
		ev.Obfuscation = obfuscation(rs.sum, ev.SequenceNumber, len(*ev.Delta))
	}
	return rs.sw.event(ev.Type, ev)
}

// obfuscationAlphabet and obfuscation imitate the API's stream obfuscation:
// filler characters that pad each delta event to a multiple of 16 bytes.
// Here they are derived from the answer hash, so a replay is byte-identical.
const obfuscationAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func obfuscation(sum [32]byte, seq, deltaLen int) string {
	n := 16 - deltaLen%16
	var seed [36]byte
	copy(seed[:], sum[:])
	binary.LittleEndian.PutUint32(seed[32:], uint32(seq))
	h := sha256.Sum256(seed[:])
	b := make([]byte, n)
	for i := range b {
		b[i] = obfuscationAlphabet[int(h[i])%len(obfuscationAlphabet)]
	}
	return string(b)
}

// streamResponse answers a streaming request event by event:
// response.created, response.in_progress, then (after the TTFT)
// response.output_item.added, response.content_part.added,
// response.output_text.delta × N, response.output_text.done,
// response.content_part.done, response.output_item.done and
// response.completed (or response.incomplete). A function call replaces the
// content part and text events with response.function_call_arguments.delta
// × N and response.function_call_arguments.done.
func (s *Server) streamResponse(w http.ResponseWriter, r *http.Request, run responseRun) {
	ctx := r.Context()
	p := run.p
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	rs := &responseStream{sw: sseWriter{w: w, rc: http.NewResponseController(w)}, sum: p.sum, obf: run.obfuscate}
	ok := true
	send := func(ev responseEvent) bool {
		if !ok {
			return false
		}
		if err := rs.send(ev); err != nil {
			s.canceled.Add(1)
			ok = false
		}
		return ok
	}
	zero := 0
	inProgress := run.object("in_progress")
	send(responseEvent{Type: "response.created", Response: &inProgress})
	send(responseEvent{Type: "response.in_progress", Response: &inProgress})
	if !ok {
		return
	}
	if !wait(ctx, s.opts.TTFT+p.ctl.hold) {
		s.canceled.Add(1)
		return
	}

	final := run.outputItem()
	itemID := run.msgID
	pieces := p.pieces
	var added outputItem
	if tc := final.Call; tc != nil {
		itemID = tc.ID
		pieces = p.argPieces
		started := *tc
		started.Status, started.Arguments = "in_progress", ""
		added = outputItem{Call: &started}
	} else {
		added = outputItem{Message: &messageItem{ID: run.msgID, Type: "message", Status: "in_progress", Role: "assistant", Content: []outputText{}}}
	}
	send(responseEvent{Type: "response.output_item.added", OutputIndex: &zero, Item: &added})
	if final.Message != nil {
		empty := newOutputText("")
		send(responseEvent{Type: "response.content_part.added", ItemID: itemID, OutputIndex: &zero, ContentIndex: &zero, Part: &empty})
	}
	if !ok {
		return
	}

	limit := len(pieces)
	switch {
	case p.ctl.cut:
		limit = len(pieces) / 2
	case p.ctl.midstreamError || p.ctl.failed:
		limit = min(3, len(pieces))
	}
	for i, piece := range pieces[:limit] {
		if i > 0 && !wait(ctx, s.perToken+p.ctl.slow) {
			s.canceled.Add(1)
			return
		}
		ev := responseEvent{Type: "response.output_text.delta", ItemID: itemID, OutputIndex: &zero, ContentIndex: &zero,
			Delta: &piece, Logprobs: &[]struct{}{}}
		if final.Call != nil {
			ev = responseEvent{Type: "response.function_call_arguments.delta", ItemID: itemID, OutputIndex: &zero, Delta: &piece}
		}
		if !send(ev) {
			return
		}
	}
	switch {
	case p.ctl.cut:
		// Every event so far has been flushed; abort the connection so the
		// client sees the body end without a terminal event.
		panic(http.ErrAbortHandler)
	case p.ctl.midstreamError:
		typ, msg, code := statusError(http.StatusInternalServerError)
		if code == "" {
			code = typ
		}
		send(responseEvent{Type: "error", Error: &errorDetail{Type: typ, Code: &code, Message: msg}})
		return
	case p.ctl.failed:
		failed := run.failed()
		send(responseEvent{Type: "response.failed", Response: &failed})
		return
	}

	if tc := final.Call; tc != nil {
		send(responseEvent{Type: "response.function_call_arguments.done", ItemID: itemID, OutputIndex: &zero, Arguments: &tc.Arguments})
	} else {
		text := final.Message.Content[0].Text
		part := final.Message.Content[0]
		send(responseEvent{Type: "response.output_text.done", ItemID: itemID, OutputIndex: &zero, ContentIndex: &zero,
			Text: &text, Logprobs: &[]struct{}{}})
		send(responseEvent{Type: "response.content_part.done", ItemID: itemID, OutputIndex: &zero, ContentIndex: &zero, Part: &part})
	}
	send(responseEvent{Type: "response.output_item.done", OutputIndex: &zero, Item: &final})
	done := run.final(s.opts.Now().Unix())
	terminal := "response.completed"
	if done.Status == "incomplete" {
		terminal = "response.incomplete"
	}
	if send(responseEvent{Type: terminal, Response: &done}) {
		s.storeRun(run)
	}
}
