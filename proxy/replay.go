package proxy

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/semcache/semcache/engine"
)

// writeHit writes a hit: at once, or, for a replayed stream with a pace,
// event by event with the pace between them (each event flushed). A
// client that leaves stops the replay at its next event.
func writeHit(ctx context.Context, w http.ResponseWriter, r *engine.Reply) {
	if r.Pace <= 0 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
		writeReply(w, r)
		return
	}
	copyHeader(w.Header(), r.Header)
	w.Header().Set("Content-Length", fmt.Sprint(len(r.Body)))
	w.WriteHeader(r.Status)
	rc := http.NewResponseController(w)
	t := time.NewTimer(r.Pace)
	t.Stop()
	defer t.Stop()
	body := r.Body
	for len(body) > 0 {
		n := bytes.Index(body, []byte("\n\n"))
		if n < 0 {
			n = len(body)
		} else {
			n += 2
		}
		if _, err := w.Write(body[:n]); err != nil {
			return
		}
		_ = rc.Flush()
		body = body[n:]
		if len(body) == 0 {
			return
		}
		t.Reset(r.Pace)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
