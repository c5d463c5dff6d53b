package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/semcache/semcache/wire/sse"
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

// errStreamDone stops the parser at [DONE].
var errStreamDone = errors.New("load: stream done")

// readStream reads an SSE chat answer to the end (with the WHATWG event
// parser every part of semcache uses, wire/sse). It returns the time from
// start to the first chunk carrying content or a tool call, and an error if
// the stream reports one, is malformed, or ends before finish_reason and
// [DONE].
func readStream(body io.Reader, start time.Time) (time.Duration, error) {
	p := sse.Parser{MaxLine: maxEventBytes}
	var ttft time.Duration
	finished := false
	handle := func(ev sse.Event) error {
		payload := bytes.TrimSpace(ev.Data)
		if bytes.Equal(payload, []byte("[DONE]")) {
			if !finished {
				return errors.New("load: stream sent [DONE] without a finish_reason")
			}
			return errStreamDone
		}
		var c chunk
		if err := json.Unmarshal(payload, &c); err != nil {
			return fmt.Errorf("load: decode stream chunk %q: %w", payload, err)
		}
		if c.Error != nil {
			return fmt.Errorf("load: error event mid-stream: %s", c.Error.Message)
		}
		for _, ch := range c.Choices {
			if ttft == 0 && (ch.Delta.Content != "" || len(ch.Delta.ToolCalls) > 0) {
				ttft = time.Since(start)
			}
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				finished = true
			}
		}
		return nil
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			ferr := p.Feed(buf[:n], handle)
			if errors.Is(ferr, errStreamDone) {
				_, _ = io.Copy(io.Discard, body) // drain so the connection is reused
				return ttft, nil
			}
			if ferr != nil {
				return ttft, ferr
			}
			if p.Overflow {
				return ttft, fmt.Errorf("load: stream line longer than %d bytes", maxEventBytes)
			}
		}
		if errors.Is(err, io.EOF) {
			return ttft, errors.New("load: stream ended without [DONE]")
		}
		if err != nil {
			return ttft, fmt.Errorf("load: read stream: %w", err)
		}
	}
}
