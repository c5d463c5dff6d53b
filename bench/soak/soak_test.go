package soak

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunCountsAndSamples drives a fake semcache: every other request is
// a hit, one in ten fails, and /metrics reports a growing RSS.
func TestRunCountsAndSamples(t *testing.T) {
	var n, scrapes atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if i%10 == 0 {
			http.Error(w, `{"error":{"message":"boom"}}`, http.StatusInternalServerError)
			return
		}
		if i%2 == 0 {
			w.Header().Set("X-Semcache", "hit-exact")
		} else {
			w.Header().Set("X-Semcache", "miss")
		}
		if strings.Contains(readBody(r), `"stream":true`) {
			fmt.Fprint(w, "data: {}\n\ndata: [DONE]\n\n")
			return
		}
		fmt.Fprint(w, `{"choices":[]}`)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		s := scrapes.Add(1)
		fmt.Fprintf(w, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n", s<<20)
		fmt.Fprint(w, "# TYPE semcache_writeback_dropped_total counter\nsemcache_writeback_dropped_total 3\n")
		fmt.Fprint(w, "# TYPE semcache_cache_entries gauge\nsemcache_cache_entries{tier=\"hot\"} 1\nsemcache_cache_entries{tier=\"disk\"} 42\n")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	rep, err := Run(context.Background(), Options{Target: srv.URL + "/v1", Admin: srv.URL, Duration: 500 * time.Millisecond,
		Rate: 200, Concurrency: 8, Keys: 2, RepeatRatio: 0.5, StreamRatio: 0.5, Sample: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent == 0 || rep.Sent != rep.Hits+rep.Misses+rep.Errors {
		t.Fatalf("sent %d = hits %d + misses %d + errors %d?", rep.Sent, rep.Hits, rep.Misses, rep.Errors)
	}
	if rep.Errors == 0 || rep.Errors > rep.Sent/5 {
		t.Fatalf("errors %d of %d, want about a tenth", rep.Errors, rep.Sent)
	}
	if len(rep.Samples) < 3 {
		t.Fatalf("%d samples", len(rep.Samples))
	}
	last := rep.Samples[len(rep.Samples)-1]
	if last.DiskEntries != 42 || last.Dropped != 3 || last.RSS <= rep.Samples[0].RSS {
		t.Fatalf("last sample %+v", last)
	}
	sum := rep.Summary()
	if sum.Peak != float64(last.RSS)/(1<<20) || sum.Dropped != 3 {
		t.Fatalf("summary %+v", sum)
	}
	var b strings.Builder
	if err := rep.Print(&b); err != nil || !strings.Contains(b.String(), "write-back dropped 3") {
		t.Fatalf("print: %v\n%s", err, b.String())
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).Validate(); err == nil {
		t.Fatal("empty options validated")
	}
}

func readBody(r *http.Request) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
