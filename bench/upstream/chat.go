package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// parseChat decodes and validates a chat completion request.
func parseChat(body []byte) (*chatRequest, []chatMessage, *requestError) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, nil, &requestError{status: http.StatusBadRequest, param: typeErr.Field,
				message: fmt.Sprintf("Invalid type for '%s': expected %s, got %s.", typeErr.Field, typeErr.Type, typeErr.Value),
				code:    "invalid_type"}
		}
		return nil, nil, &requestError{status: http.StatusBadRequest,
			message: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"}
	}
	if req.Model == "" {
		return nil, nil, &requestError{status: http.StatusBadRequest, param: "model",
			message: "you must provide a model parameter", code: "missing_required_parameter"}
	}
	if len(req.Messages) == 0 || bytes.Equal(bytes.TrimSpace(req.Messages), []byte("null")) {
		return nil, nil, &requestError{status: http.StatusBadRequest, param: "messages",
			message: "Missing required parameter: 'messages'.", code: "missing_required_parameter"}
	}
	var msgs []chatMessage
	if err := json.Unmarshal(req.Messages, &msgs); err != nil {
		return nil, nil, &requestError{status: http.StatusBadRequest, param: "messages",
			message: "Invalid value for 'messages': " + err.Error(), code: "invalid_value"}
	}
	if len(msgs) == 0 {
		return nil, nil, &requestError{status: http.StatusBadRequest, param: "messages",
			message: "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
			code:    "empty_array"}
	}
	for i, m := range msgs {
		if m.Role == "" {
			return nil, nil, &requestError{status: http.StatusBadRequest, param: fmt.Sprintf("messages[%d].role", i),
				message: fmt.Sprintf("Missing required parameter: 'messages[%d].role'.", i), code: "missing_required_parameter"}
		}
	}
	if req.N != nil && *req.N != 1 {
		return nil, nil, &requestError{status: http.StatusBadRequest, param: "n",
			message: fmt.Sprintf("The simulator supports only n=1, got n=%d.", *req.N), code: "unsupported_value"}
	}
	limits := []struct {
		name string
		v    *int
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}}
	for _, l := range limits {
		if name, v := l.name, l.v; v != nil && *v < 1 {
			return nil, nil, &requestError{status: http.StatusBadRequest, param: name,
				message: fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", name, *v),
				code:    "integer_below_min_value"}
		}
	}
	return &req, msgs, nil
}

// completionMeta is shared by every chunk of one response.
type completionMeta struct {
	id      string
	created int64
	model   string
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	s.record(PathChat, body, r.Header)

	req, msgs, rerr := parseChat(body)
	if rerr != nil {
		rerr.write(w)
		return
	}
	if s.injectError() {
		typ, msg, code := statusError(http.StatusInternalServerError)
		writeError(w, http.StatusInternalServerError, typ, "", msg, code)
		return
	}
	ctl, err := parseControls(lastUserText(msgs))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "messages", err.Error(), "invalid_sim_marker")
		return
	}
	if ctl.failed {
		// Chat has no failed-response event: the closest is the mid-stream error.
		ctl.midstreamError = true
	}
	if ctl.status != 0 {
		typ, msg, code := statusError(ctl.status)
		writeError(w, ctl.status, typ, "", msg, code)
		return
	}
	p := makePlan(req, msgs, ctl, s.opts.AnswerTokens, s.filler, s.opts.Answerer)
	meta := completionMeta{id: s.nextID("chatcmpl-sim"), created: s.opts.Now().Unix(), model: req.Model}
	w.Header().Set("X-Request-Id", s.nextID("req_sim"))
	if req.Stream {
		includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
		s.streamChat(w, r, p, meta, includeUsage)
		return
	}
	s.completeChat(w, r, p, meta)
}

// completeChat answers a non-streaming request after the simulated
// generation time.
func (s *Server) completeChat(w http.ResponseWriter, r *http.Request, p plan, meta completionMeta) {
	words := max(0, p.completionTokens()-1)
	delay := s.opts.TTFT + p.ctl.hold + time.Duration(words)*(s.perToken+p.ctl.slow)
	if !wait(r.Context(), delay) {
		s.canceled.Add(1)
		return
	}
	if p.ctl.midstreamError {
		typ, msg, code := statusError(http.StatusInternalServerError)
		writeError(w, http.StatusInternalServerError, typ, "", msg, code)
		return
	}
	msg := responseMessage{Role: "assistant"}
	if p.toolCall != nil {
		msg.ToolCalls = []toolCall{*p.toolCall}
	} else {
		content := p.content()
		msg.Content = &content
	}
	resp := chatCompletion{
		ID: meta.id, Object: "chat.completion", Created: meta.created, Model: meta.model,
		SystemFingerprint: systemFingerprint,
		Choices:           []chatChoice{{Index: 0, Message: msg, FinishReason: p.finishReason}},
		Usage:             p.usage(),
	}
	if !p.ctl.cut {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	b, err := json.Marshal(resp)
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

// sseWriter writes server-sent events and flushes each one.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (sw sseWriter) data(payload []byte) error {
	buf := make([]byte, 0, len(payload)+8)
	buf = append(buf, "data: "...)
	buf = append(buf, payload...)
	buf = append(buf, "\n\n"...)
	if _, err := sw.w.Write(buf); err != nil {
		return fmt.Errorf("upstream: write event: %w", err)
	}
	if err := sw.rc.Flush(); err != nil {
		return fmt.Errorf("upstream: flush event: %w", err)
	}
	return nil
}

// event writes a named event: "event: <name>\ndata: <json>\n\n".
func (sw sseWriter) event(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("upstream: encode event: %w", err)
	}
	buf := make([]byte, 0, len(name)+len(b)+16)
	buf = append(buf, "event: "...)
	buf = append(buf, name...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, b...)
	buf = append(buf, "\n\n"...)
	if _, err := sw.w.Write(buf); err != nil {
		return fmt.Errorf("upstream: write event: %w", err)
	}
	if err := sw.rc.Flush(); err != nil {
		return fmt.Errorf("upstream: flush event: %w", err)
	}
	return nil
}

func (sw sseWriter) json(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("upstream: encode event: %w", err)
	}
	return sw.data(b)
}

// streamChat answers a streaming request chunk by chunk.
func (s *Server) streamChat(w http.ResponseWriter, r *http.Request, p plan, meta completionMeta, includeUsage bool) {
	ctx := r.Context()
	if !wait(ctx, s.opts.TTFT+p.ctl.hold) {
		s.canceled.Add(1)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	sw := sseWriter{w: w, rc: http.NewResponseController(w)}

	chunk := func(delta chunkDelta, finish *string) chatChunk {
		return chatChunk{
			ID: meta.id, Object: "chat.completion.chunk", Created: meta.created, Model: meta.model,
			SystemFingerprint: systemFingerprint,
			Choices:           []chunkChoice{{Index: 0, Delta: delta, FinishReason: finish}},
			Usage:             chunkUsage{present: includeUsage},
		}
	}
	send := func(c chatChunk) bool {
		if err := sw.json(c); err != nil {
			s.canceled.Add(1)
			return false
		}
		return true
	}

	zero := 0
	first := chunkDelta{Role: "assistant"}
	pieces := p.pieces
	if p.toolCall != nil {
		first.ToolCalls = []toolCall{{Index: &zero, ID: p.toolCall.ID, Type: p.toolCall.Type,
			Function: functionCall{Name: p.toolCall.Function.Name}}}
		pieces = p.argPieces
	} else {
		empty := ""
		first.Content = &empty
	}
	if !send(chunk(first, nil)) {
		return
	}

	limit := len(pieces)
	switch {
	case p.ctl.cut:
		limit = len(pieces) / 2
	case p.ctl.midstreamError:
		limit = min(3, len(pieces))
	}
	for i, piece := range pieces[:limit] {
		if i > 0 && !wait(ctx, s.perToken+p.ctl.slow) {
			s.canceled.Add(1)
			return
		}
		var delta chunkDelta
		if p.toolCall != nil {
			delta.ToolCalls = []toolCall{{Index: &zero, Function: functionCall{Arguments: piece}}}
		} else {
			delta.Content = &piece
		}
		if !send(chunk(delta, nil)) {
			return
		}
	}
	if p.ctl.cut {
		// Every event so far has been flushed; abort the connection so the
		// client sees the body end without finish_reason or [DONE].
		panic(http.ErrAbortHandler)
	}
	if p.ctl.midstreamError {
		typ, msg, code := statusError(http.StatusInternalServerError)
		if err := sw.json(errorBody(typ, "", msg, code)); err != nil {
			s.canceled.Add(1)
		}
		return
	}
	finish := p.finishReason
	if !send(chunk(chunkDelta{}, &finish)) {
		return
	}
	if includeUsage {
		u := p.usage()
		final := chatChunk{
			ID: meta.id, Object: "chat.completion.chunk", Created: meta.created, Model: meta.model,
			SystemFingerprint: systemFingerprint,
			Choices:           []chunkChoice{},
			Usage:             chunkUsage{present: true, usage: &u},
		}
		if !send(final) {
			return
		}
	}
	if err := sw.data([]byte("[DONE]")); err != nil {
		s.canceled.Add(1)
	}
}
