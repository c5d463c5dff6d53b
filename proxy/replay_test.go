package proxy

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/semcache/semcache/engine"
)

// flushRecorder records each write and each flush.
type flushRecorder struct {
	*httptest.ResponseRecorder
	writes, flushes int
	onWrite         func(n int)
}

func (f *flushRecorder) Write(p []byte) (int, error) {
	f.writes++
	if f.onWrite != nil {
		f.onWrite(f.writes)
	}
	return f.ResponseRecorder.Write(p)
}

func (f *flushRecorder) Flush() { f.flushes++ }

func TestWriteHitPaces(t *testing.T) {
	stream := []byte("data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: {\"a\":3}\n\ndata: [DONE]\n\n")
	tests := []struct {
		name        string
		ct          string
		pace        time.Duration
		cancelAfter int // cancel the context after this many writes (0: never)
		wantWrites  int
		wantBody    string
	}{
		{"no pace: one write", "text/event-stream", 0, 0, 1, string(stream)},
		{"paced: an event per write", "text/event-stream", time.Millisecond, 0, 4, string(stream)},
		{"JSON is never paced", "application/json", time.Millisecond, 0, 1, string(stream)},
		{"a client that leaves stops it", "text/event-stream", time.Hour, 1, 1, "data: {\"a\":1}\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
			if tt.cancelAfter > 0 {
				w.onWrite = func(n int) {
					if n == tt.cancelAfter {
						cancel()
					}
				}
			}
			done := make(chan struct{})
			go func() {
				writeHit(ctx, w, &engine.Reply{Status: http.StatusOK, Header: http.Header{"Content-Type": {tt.ct}}, Body: stream, Pace: tt.pace})
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("writeHit did not return")
			}
			if w.writes != tt.wantWrites || w.Body.String() != tt.wantBody {
				t.Fatalf("%d writes %q, want %d %q", w.writes, w.Body.String(), tt.wantWrites, tt.wantBody)
			}
			if tt.pace > 0 && strings.HasPrefix(tt.ct, "text/event-stream") && w.flushes != w.writes {
				t.Fatalf("%d flushes for %d writes", w.flushes, w.writes)
			}
			if !bytes.HasPrefix(stream, w.Body.Bytes()) {
				t.Fatal("events out of order")
			}
		})
	}
}
