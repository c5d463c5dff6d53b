package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// countingEmbedder embeds every text as a unit vector and counts calls and
// the longest text it saw.
type countingEmbedder struct {
	calls, longest atomic.Int64
}

func (e *countingEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	e.calls.Add(1)
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if n := int64(len(t)); n > e.longest.Load() {
			e.longest.Store(n)
		}
		out[i] = []float32{1, 0, 0, 0}
	}
	return out, nil
}
func (e *countingEmbedder) Dimension() int  { return 4 }
func (e *countingEmbedder) ModelID() string { return "counting" }

func TestEmbedStackComposition(t *testing.T) {
	tests := []struct {
		kind                  string
		batcher, limited      bool
		wantBatchesMetric     bool
		wantLimitWaitedMetric bool
	}{
		{kind: "use", batcher: true, wantBatchesMetric: true},
		{kind: "lexical", limited: true, wantLimitWaitedMetric: true},
		{kind: "openai"},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			inner := &countingEmbedder{}
			s, err := newEmbedStack(tc.kind, inner)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			if (s.batcher != nil) != tc.batcher || (s.limited != nil) != tc.limited {
				t.Fatalf("batcher %v limited %v, want %v %v", s.batcher != nil, s.limited != nil, tc.batcher, tc.limited)
			}
			huge := strings.Repeat("lorem ipsum ", 100_000)
			for range 2 { // the second call is a cache hit
				if _, err := s.top.Embed(t.Context(), []string{"what is a semantic cache?", huge}); err != nil {
					t.Fatal(err)
				}
			}
			if got := inner.calls.Load(); got != 1 {
				t.Errorf("inner calls = %d, want 1 (the repeat is cached)", got)
			}
			if got := inner.longest.Load(); got >= int64(len(huge)) {
				t.Errorf("inner saw a %d-byte text: not clipped", got)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(embedStackCollector{s})
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, mf := range mfs {
				names[mf.GetName()] = true
				if mf.GetName() == "semcache_embed_clipped_total" {
					if got := mf.GetMetric()[0].GetCounter().GetValue(); got != 2 {
						t.Errorf("clipped = %v, want 2 (the long text, clipped in front of the cache on both calls)", got)
					}
				}
			}
			if names["semcache_embed_batches_total"] != tc.wantBatchesMetric || names["semcache_embed_waited_total"] != tc.wantLimitWaitedMetric {
				t.Errorf("metrics %v", names)
			}
		})
	}
}
