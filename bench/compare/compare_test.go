package compare

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPromptsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for i := range 50_000 {
		p := prompt(i)
		if seen[p] {
			t.Fatalf("prompt %d repeats %q", i, p)
		}
		seen[p] = true
	}
}

func TestBodyIsValidJSONShape(t *testing.T) {
	for _, stream := range []bool{false, true} {
		c := &client{stream: stream}
		b := c.body(7)
		if !bytes.HasPrefix(b, []byte(`{"model":"sim-gpt"`)) || !bytes.HasSuffix(b, []byte("}")) ||
			bytes.Contains(b, []byte(`"stream":true`)) != stream {
			t.Errorf("stream=%v: %s", stream, b)
		}
	}
}

func TestRank(t *testing.T) {
	s := make([]time.Duration, 100)
	for i := range s {
		s[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}}
	for _, tc := range tests {
		if got := rank(s, tc.p); got != tc.want {
			t.Errorf("rank(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := rank(nil, 0.5); got != 0 {
		t.Errorf("rank of nothing = %v", got)
	}
}

func TestSummariesTakeMediansPerRound(t *testing.T) {
	ms := time.Millisecond
	rep := Report{Options: Options{Rounds: 3, LatencyRequests: 10, Concurrency: 32, ThroughputDuration: time.Second}, Rows: []Row{{
		Mode: "off",
		Direct: []Phase{
			{P50: 1 * ms, P99: 2 * ms, Throughput: 1000},
			{P50: 1 * ms, P99: 2 * ms, Throughput: 2000},
			{P50: 9 * ms, P99: 9 * ms, Throughput: 1000},
		},
		Semcache: []Phase{
			{P50: 2 * ms, P99: 4 * ms, Throughput: 500, RSS: 10 << 20, WriteBack: WriteBack{Stored: 5}, Verdicts: map[string]int{"miss": 3}},
			{P50: 4 * ms, P99: 5 * ms, Throughput: 500, RSS: 30 << 20, WriteBack: WriteBack{Stored: 5, Dropped: 1}, Verdicts: map[string]int{"miss": 4}},
			{P50: 10 * ms, P99: 10 * ms, Throughput: 900, RSS: 20 << 20},
		},
	}}}
	s := rep.Summaries()
	if len(s) != 1 {
		t.Fatalf("%d summaries", len(s))
	}
	got := s[0]
	// Added latencies per round: p50 1, 3, 1 ms → 1 ms; p99 2, 3, 1 → 2 ms.
	if got.AddedP50 != ms || got.AddedP99 != 2*ms {
		t.Errorf("added p50/p99 = %v/%v, want 1ms/2ms", got.AddedP50, got.AddedP99)
	}
	// Ratios per round: 0.5, 0.25, 0.9 → 0.5.
	if got.Ratio != 0.5 {
		t.Errorf("ratio = %v, want 0.5", got.Ratio)
	}
	if got.RSS != 30<<20 || got.WriteBack.Stored != 10 || got.WriteBack.Dropped != 1 || got.Verdicts["miss"] != 7 {
		t.Errorf("rss %d, write-back %+v, verdicts %v", got.RSS, got.WriteBack, got.Verdicts)
	}
	var out strings.Builder
	if err := rep.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| semcache, semantic off | +1.000 / +2.000 ms | 0.5× (500 req/s) | 30 MiB", "miss=7"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{"ok", Options{Semcache: "/bin/semcache", Modes: []string{"off", "lexical"}}, nil},
		{"missing binary and bad mode", Options{Modes: []string{"fast"}}, []string{"binary is required", `mode "fast"`}},
		{"use without model", Options{Semcache: "x", Modes: []string{"use"}}, []string{"USE-lite model directory"}},
		{"negative", Options{Semcache: "x", Modes: []string{"off"}, Rounds: -1}, []string{"must not be negative"}},
		{"negative upstream delay", Options{Semcache: "x", Modes: []string{"off"}, UpstreamTTFT: -time.Millisecond}, []string{"must not be negative"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if (err == nil) != (len(tc.want) == 0) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v lacks %q", err, w)
				}
			}
		})
	}
}
