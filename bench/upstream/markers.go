package upstream

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Test-control markers. Put one or more anywhere in the LAST user message of
// a chat request or of a Responses request's input; they pass unchanged
// through a proxy and change what the simulator answers. Markers in earlier
// messages are ignored, so a conversation history that mentions a marker
// does not re-trigger it. Markers are part of the prompt, so they also change
// the answer hash. On /v1/responses they map to the Responses equivalents
// described with each marker.
const (
	// MarkerCut: stream mode sends half the words and then aborts the
	// connection with no finish_reason and no [DONE] (Responses: no
	// .done events and no response.completed); non-stream mode writes half
	// of the JSON body (with the full Content-Length) and aborts.
	MarkerCut = "[[sim:cut]]"
	// MarkerLength ends the answer with finish_reason "length" (Responses:
	// status "incomplete", incomplete_details.reason "max_output_tokens",
	// the response.incomplete event).
	MarkerLength = "[[sim:length]]"
	// MarkerTools answers with one function tool call (the first tool of the
	// request, or "lookup") and finish_reason "tool_calls". In stream mode the
	// arguments JSON arrives in three pieces. Responses: one function_call
	// output item (response.function_call_arguments.delta events); once a
	// function_call_output follows the user message, the marker no longer
	// applies and the model answers with text, ending an agent loop.
	MarkerTools = "[[sim:tools]]"
	// MarkerFilter returns the first half of the answer with finish_reason
	// "content_filter" (Responses: status "incomplete", reason
	// "content_filter").
	MarkerFilter = "[[sim:filter]]"
	// MarkerMidstreamError: stream mode sends a few content chunks, then a
	// `data: {"error":{...}}` event, then ends the body (no [DONE]).
	// Responses: a few deltas, then `event: error` with the nested shape the
	// live API sends ({"type":"error","error":{type,code,message,param},
	// "sequence_number"}), then the body ends. Non-stream mode answers 500
	// with an OpenAI error body.
	MarkerMidstreamError = "[[sim:midstream-error]]"
	// MarkerFailed: Responses streams send a few deltas, then the terminal
	// response.failed event (status "failed", error.code "server_error");
	// non-stream mode answers 500. Chat treats it as MarkerMidstreamError.
	MarkerFailed = "[[sim:failed]]"
	// MarkerEcho makes the answer content exactly the compact JSON of the
	// request's messages array as received (max_tokens does not truncate it).
	// Responses: the compact JSON of {"instructions":…,"input":…} as received.
	MarkerEcho = "[[sim:echo]]"
)

// MarkerStatus returns the marker that makes the simulator answer with HTTP
// status code (400..599) and an OpenAI error body.
func MarkerStatus(code int) string { return fmt.Sprintf("[[sim:status=%d]]", code) }

// MarkerSlow returns the marker that adds d (millisecond resolution) of
// extra delay before every word after the first.
func MarkerSlow(d time.Duration) string { return fmt.Sprintf("[[sim:slow=%d]]", d.Milliseconds()) }

// MarkerHold returns the marker that waits d (millisecond resolution) before
// the first content chunk, returning early if the client goes away.
func MarkerHold(d time.Duration) string { return fmt.Sprintf("[[sim:hold=%d]]", d.Milliseconds()) }

const (
	markerOpen  = "[[sim:"
	markerClose = "]]"
	maxMarkerMS = 10 * 60 * 1000
)

// controls is the parsed set of markers of one request.
type controls struct {
	cut            bool
	length         bool
	tools          bool
	filter         bool
	midstreamError bool
	failed         bool
	echo           bool
	status         int
	slow           time.Duration
	hold           time.Duration
}

// parseControls reads every marker in text. Unknown or malformed markers are
// an error so that a typo in a test shows up as a 400, not as a silently
// ordinary answer.
func parseControls(text string) (controls, error) {
	var c controls
	rest := text
	for {
		i := strings.Index(rest, markerOpen)
		if i < 0 {
			return c, nil
		}
		rest = rest[i+len(markerOpen):]
		j := strings.Index(rest, markerClose)
		if j < 0 {
			return c, fmt.Errorf("unterminated sim marker %q", markerOpen+rest)
		}
		body := rest[:j]
		rest = rest[j+len(markerClose):]
		name, value, hasValue := strings.Cut(body, "=")
		if err := c.set(name, value, hasValue); err != nil {
			return c, fmt.Errorf("sim marker [[sim:%s]]: %w", body, err)
		}
	}
}

func (c *controls) set(name, value string, hasValue bool) error {
	flags := map[string]*bool{
		"cut": &c.cut, "length": &c.length, "tools": &c.tools,
		"filter": &c.filter, "midstream-error": &c.midstreamError, "failed": &c.failed, "echo": &c.echo,
	}
	if p, ok := flags[name]; ok {
		if hasValue {
			return fmt.Errorf("%s takes no value", name)
		}
		*p = true
		return nil
	}
	if !hasValue {
		return fmt.Errorf("unknown marker %q", name)
	}
	n, err := strconv.Atoi(value)
	if err != nil {
		return fmt.Errorf("value %q is not an integer", value)
	}
	switch name {
	case "status":
		if n < 400 || n > 599 {
			return fmt.Errorf("status %d outside 400..599", n)
		}
		c.status = n
	case "slow", "hold":
		if n < 0 || n > maxMarkerMS {
			return fmt.Errorf("%d ms outside 0..%d", n, maxMarkerMS)
		}
		d := time.Duration(n) * time.Millisecond
		if name == "slow" {
			c.slow = d
		} else {
			c.hold = d
		}
	default:
		return fmt.Errorf("unknown marker %q", name)
	}
	return nil
}

// stripMarkers removes every well-formed marker from text.
func stripMarkers(text string) string {
	var b strings.Builder
	rest := text
	for {
		i := strings.Index(rest, markerOpen)
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		j := strings.Index(rest[i:], markerClose)
		if j < 0 {
			b.WriteString(rest)
			return b.String()
		}
		b.WriteString(rest[:i])
		b.WriteByte(' ')
		rest = rest[i+j+len(markerClose):]
	}
}
