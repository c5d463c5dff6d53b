package load

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

const maxEventBytes = 4 << 20

// chunk is the part of a chat.completion.chunk the load generator checks.
type chunk struct {
	wireError
	Choices []struct {
		Delta struct {
			Content   string            `json:"content"`
			ToolCalls []json.RawMessage `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

// readStream reads an SSE chat answer to the end. It returns the time from
// start to the first chunk carrying content or a tool call, and an error if
// the stream reports one, is malformed, or ends before finish_reason and
// [DONE].
func readStream(body io.Reader, start time.Time) (time.Duration, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	var ttft time.Duration
	finished := false
	for sc.Scan() {
		line := sc.Bytes()
		payload, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			continue // blank separators, comments (":"), event/id fields
		}
		payload = bytes.TrimPrefix(payload, []byte(" "))
		if bytes.Equal(payload, []byte("[DONE]")) {
			if !finished {
				return ttft, errors.New("load: stream sent [DONE] without a finish_reason")
			}
			_, _ = io.Copy(io.Discard, body) // drain so the connection is reused
			return ttft, nil
		}
		var c chunk
		if err := json.Unmarshal(payload, &c); err != nil {
			return ttft, fmt.Errorf("load: decode stream chunk %q: %w", payload, err)
		}
		if c.Error != nil {
			return ttft, fmt.Errorf("load: error event mid-stream: %s", c.Error.Message)
		}
		for _, ch := range c.Choices {
			if ttft == 0 && (ch.Delta.Content != "" || len(ch.Delta.ToolCalls) > 0) {
				ttft = time.Since(start)
			}
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				finished = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return ttft, fmt.Errorf("load: read stream: %w", err)
	}
	return ttft, errors.New("load: stream ended without [DONE]")
}
