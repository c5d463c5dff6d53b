package engine

import (
	"mime"
	"net/http"
	"testing"
)

// TestIsEventStream agrees with mime.ParseMediaType on the Content-Type
// values upstreams send.
func TestIsEventStream(t *testing.T) {
	for _, ct := range []string{
		"text/event-stream", "text/event-stream; charset=utf-8", "Text/Event-Stream", " text/event-stream ;charset=utf-8",
		"text/event-stream;", "application/json", "application/json; charset=utf-8", "", "text/event-streams", "text/plain",
	} {
		mt, _, _ := mime.ParseMediaType(ct)
		want := mt == "text/event-stream"
		if got := IsEventStream(http.Header{"Content-Type": {ct}}); got != want {
			t.Errorf("IsEventStream(%q) = %v, mime.ParseMediaType says %v", ct, got, want)
		}
	}
}
