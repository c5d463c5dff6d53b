package fronttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/embeddings"
	"github.com/semcache/semcache/wire/responses"
	"github.com/semcache/semcache/wire/sse"
)

// The honest-answers scenarios: what a hit says about itself.
func runAnswers(t *testing.T, f Factory) {
	t.Run("HitMarker", func(t *testing.T) { testHitMarker(t, f) })
	t.Run("HitUsageZero", func(t *testing.T) { testHitUsageZero(t, f) })
	t.Run("ReplayChunks", func(t *testing.T) { testReplayChunks(t, f) })
	t.Run("Variants", func(t *testing.T) { testVariants(t, f) })
	t.Run("SemanticVariants", func(t *testing.T) { testSemanticVariants(t, f) })
	t.Run("VariantsSavedTokens", func(t *testing.T) { testVariantsSavedTokens(t, f) })
}

// usageJSON is a usage object of any of the APIs.
type usageJSON struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	InputTokens      int `json:"input_tokens"`
	OutputTokens     int `json:"output_tokens"`
	TotalTokens      int `json:"total_tokens"`
	InputDetails     *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
}

func (u *usageJSON) spent() int {
	return u.PromptTokens + u.CompletionTokens + u.InputTokens + u.OutputTokens + u.TotalTokens
}

// marked is the part of a reply, or of one event of a stream, that the
// scenarios read.
type marked struct {
	Semcache *wire.Marker `json:"semcache"`
	Usage    *usageJSON   `json:"usage"`
	Type     string       `json:"type"`
	Delta    *string      `json:"delta"`
	Response *marked      `json:"response"`
	Choices  []struct {
		Text  *string `json:"text"`
		Delta struct {
			Content *string `json:"content"`
		} `json:"delta"`
	} `json:"choices"`
}

// reading is what a reply says about itself: its marker and usage (from
// the JSON object, the last chunk or response.completed), how many events
// carry a marker, and the content deltas of a stream.
type reading struct {
	marker  *wire.Marker
	usage   *usageJSON
	markers int
	deltas  []string
}

func read(t *testing.T, r *Response) reading {
	t.Helper()
	var out reading
	take := func(m *marked) {
		if m.Response != nil { // response.completed and the like
			if m.Response.Semcache != nil {
				out.markers++
				out.marker = m.Response.Semcache
			}
			if m.Response.Usage != nil {
				out.usage = m.Response.Usage
			}
		}
		if m.Semcache != nil {
			out.markers++
			out.marker = m.Semcache
		}
		if m.Usage != nil {
			out.usage = m.Usage
		}
		if m.Type == "response.output_text.delta" && m.Delta != nil {
			out.deltas = append(out.deltas, *m.Delta)
		}
		for _, ch := range m.Choices {
			if ch.Delta.Content != nil && *ch.Delta.Content != "" {
				out.deltas = append(out.deltas, *ch.Delta.Content)
			}
			if ch.Text != nil && *ch.Text != "" {
				out.deltas = append(out.deltas, *ch.Text)
			}
		}
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
		var m marked
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatalf("reply is not JSON: %v: %.300s", err, r.Body)
		}
		take(&m)
		out.deltas = nil // a JSON reply's text is not a delta
		return out
	}
	var p sse.Parser
	err := p.Feed(r.Body, func(ev sse.Event) error {
		if bytes.Equal(bytes.TrimSpace(ev.Data), []byte("[DONE]")) {
			return nil
		}
		var m marked
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			return fmt.Errorf("event %q: %w", ev.Data, err)
		}
		take(&m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// streamAPIs are the cached APIs with streams; allAPIs adds embeddings.
func modes(a api) []bool {
	if a.stream {
		return []bool{false, true}
	}
	return []bool{false}
}

func testHitMarker(t *testing.T, f Factory) {
	for _, a := range apis {
		for _, stream := range modes(a) {
			t.Run(fmt.Sprintf("%s/stream=%v", a.name, stream), func(t *testing.T) {
				env := f(t, Options{})
				ctx := context.Background()
				body := a.body("Why is the sky blue? Explain it in two sentences.", stream)
				miss := env.Front.Do(ctx, post(a.path, "k", body, "X-Semcache-Hit-Marker", "true"))
				if miss.Header.Get("X-Semcache") != "miss" || bytes.Contains(miss.Body, []byte(`"semcache"`)) {
					t.Fatalf("miss: %q %.300s", miss.Header.Get("X-Semcache"), miss.Body)
				}
				if up := miss.Upstream; up != nil && up.Header.Get("X-Semcache-Hit-Marker") != "" {
					t.Fatal("X-Semcache-Hit-Marker went upstream")
				}
				missRead := read(t, miss)
				plain := env.Front.Do(ctx, post(a.path, "k", body))
				if plain.Header.Get("X-Semcache") != "hit-exact" || bytes.Contains(plain.Body, []byte(`"semcache"`)) {
					t.Fatalf("hit without asking for the marker carries it: %.300s", plain.Body)
				}
				hit := env.Front.Do(ctx, post(a.path, "k", body, "X-Semcache-Hit-Marker", "true"))
				if hit.Header.Get("X-Semcache") != "hit-exact" {
					t.Fatalf("X-Semcache %q", hit.Header.Get("X-Semcache"))
				}
				if got, want := answer(t, a, hit), answer(t, a, plain); got != want {
					t.Fatal("the marker changed the answer")
				}
				r := read(t, hit)
				if r.markers != 1 || r.marker == nil {
					t.Fatalf("%d markers in the reply: %.500s", r.markers, hit.Body)
				}
				m := r.marker
				if m.Hit != "exact" || m.Age < 0 || m.SavedUsage != nil {
					t.Fatalf("marker %+v", m)
				}
				if a.name == embeddings.Name {
					if len(m.Entries) != 2 || m.Entries[0] == "" || m.Entries[0] == m.Entries[1] {
						t.Fatalf("batch marker entries %v", m.Entries)
					}
				} else if m.Entry == "" || m.Entry != hit.Header.Get("X-Semcache-Entry") {
					t.Fatalf("marker entry %q, header %q", m.Entry, hit.Header.Get("X-Semcache-Entry"))
				}
				if r.usage == nil || missRead.usage == nil || r.usage.spent() != missRead.usage.spent() || r.usage.spent() == 0 {
					t.Fatalf("usage of the hit %+v, of the miss %+v: want the original", r.usage, missRead.usage)
				}
				// A bad value: a 400, or (a filter front) passed through
				// unlooked-up, as every malformed control header.
				bad := env.Front.Do(ctx, post(a.path, "k", body, "X-Semcache-Hit-Marker", "maybe"))
				if filter := env.Name != engine.FrontHTTP.Name; !filter && bad.Status != http.StatusBadRequest ||
					filter && strings.HasPrefix(bad.Header.Get("X-Semcache"), "hit") {
					t.Fatalf("a bad X-Semcache-Hit-Marker: status %d, X-Semcache %q", bad.Status, bad.Header.Get("X-Semcache"))
				}
			})
		}
	}
}

func testHitUsageZero(t *testing.T, f Factory) {
	for _, a := range apis {
		for _, stream := range modes(a) {
			t.Run(fmt.Sprintf("%s/stream=%v", a.name, stream), func(t *testing.T) {
				env := f(t, Options{Answers: engine.Answers{Usage: engine.HitUsageZero}})
				ctx := context.Background()
				body := a.body("What does a semantic cache save? Answer in two sentences.", stream)
				miss := env.Front.Do(ctx, post(a.path, "k", body))
				mr := read(t, miss)
				if mr.usage == nil || mr.usage.spent() == 0 || mr.marker != nil {
					t.Fatalf("miss usage %+v marker %+v", mr.usage, mr.marker)
				}
				hit := env.Front.Do(ctx, post(a.path, "k", body))
				hr := read(t, hit)
				if hr.usage == nil || hr.usage.spent() != 0 {
					t.Fatalf("hit usage %+v, want zero", hr.usage)
				}
				if hr.marker == nil || hr.marker.Hit != "exact" || hr.marker.SavedUsage == nil {
					t.Fatalf("zero usage without the marker's saved_usage: %+v", hr.marker)
				}
				var saved usageJSON
				if err := json.Unmarshal(hr.marker.SavedUsage, &saved); err != nil || saved.spent() != mr.usage.spent() {
					t.Fatalf("saved_usage %s, the miss reported %+v", hr.marker.SavedUsage, mr.usage)
				}
				if a.name == responses.Name && (hr.usage.InputDetails == nil || hr.usage.InputDetails.CachedTokens != 0) {
					t.Fatalf("responses usage lost its layout: %+v", hr.usage)
				}
				// A request may ask for the original usage.
				orig := env.Front.Do(ctx, post(a.path, "k", body, "X-Semcache-Hit-Usage", "original"))
				or := read(t, orig)
				if or.usage == nil || or.usage.spent() != mr.usage.spent() || or.marker != nil {
					t.Fatalf("X-Semcache-Hit-Usage: original: usage %+v marker %+v", or.usage, or.marker)
				}
			})
		}
	}
	t.Run("embeddings partial hit", func(t *testing.T) {
		env := f(t, Options{Answers: engine.Answers{Usage: engine.HitUsageZero}})
		ctx := context.Background()
		body := func(inputs ...string) []byte {
			return jsonBody(map[string]any{"model": "sim-embedding", "input": inputs})
		}
		first := read(t, env.Front.Do(ctx, post(embeddings.Path, "k", body("alpha beta", "gamma"))))
		mixed := env.Front.Do(ctx, post(embeddings.Path, "k", body("delta epsilon zeta", "alpha beta", "gamma")))
		if mixed.Header.Get("X-Semcache") != "hit-partial" {
			t.Fatalf("X-Semcache %q", mixed.Header.Get("X-Semcache"))
		}
		r := read(t, mixed)
		var saved usageJSON
		if r.marker == nil || r.marker.Hit != "partial" || json.Unmarshal(r.marker.SavedUsage, &saved) != nil {
			t.Fatalf("marker %+v", r.marker)
		}
		// The simulator counts a token per word: 3 fetched, 3 saved.
		if r.usage.PromptTokens != 3 || saved.PromptTokens != first.usage.PromptTokens || saved.PromptTokens != 3 {
			t.Fatalf("usage %+v saved %+v (first call %+v)", r.usage, saved, first.usage)
		}
		if len(r.marker.Entries) != 3 || r.marker.Entries[0] != "" || r.marker.Entries[1] == "" {
			t.Fatalf("entries %q", r.marker.Entries)
		}
	})
}

func testReplayChunks(t *testing.T, f Factory) {
	for _, a := range []api{chatAPI, responsesAPI, completionsAPI} {
		t.Run(a.name, func(t *testing.T) {
			env := f(t, Options{})
			ctx := context.Background()
			// A stream miss keeps the upstream's chunks: the hit replays
			// them, one content event each.
			prompt := "Tell me about the sea. Then tell me about the mountains, in a few sentences."
			miss := env.Front.Do(ctx, post(a.path, "k", a.body(prompt, true)))
			mr := read(t, miss)
			hit := env.Front.Do(ctx, post(a.path, "k", a.body(prompt, true)))
			if hit.Header.Get("X-Semcache") != "hit-exact" {
				t.Fatalf("X-Semcache %q", hit.Header.Get("X-Semcache"))
			}
			hr := read(t, hit)
			if len(mr.deltas) < 2 || strings.Join(hr.deltas, "|") != strings.Join(mr.deltas, "|") {
				t.Fatalf("replayed deltas %q, upstream's %q", hr.deltas, mr.deltas)
			}
			// A JSON miss has no chunks: a stream hit comes in words.
			prompt2 := "Describe a forest. Describe a desert too, in a few sentences."
			_ = env.Front.Do(ctx, post(a.path, "k", a.body(prompt2, false)))
			hit2 := env.Front.Do(ctx, post(a.path, "k", a.body(prompt2, true)))
			if hit2.Header.Get("X-Semcache") != "hit-exact" {
				t.Fatalf("X-Semcache %q", hit2.Header.Get("X-Semcache"))
			}
			text := answer(t, a, hit2)
			d := read(t, hit2).deltas
			if len(d) < 2 || strings.Join(d, "") != text || len(d) != len(wire.Words(text)) {
				t.Fatalf("%d deltas for %d words of %q: %q", len(d), len(wire.Words(text)), text, d)
			}
		})
	}
}

// counting answers each call with a different text.
type counting struct{ n atomic.Int64 }

func (c *counting) Answer(msgs []upstream.Message) string {
	return fmt.Sprintf("Take number %d. It differs from the others.", c.n.Add(1))
}

func testVariants(t *testing.T, f Factory) {
	for _, a := range []api{chatAPI, responsesAPI} {
		for _, stream := range modes(a) {
			t.Run(fmt.Sprintf("%s/stream=%v", a.name, stream), func(t *testing.T) {
				env := f(t, Options{Answers: engine.Answers{Variants: 3, Marker: true}, Answerer: &counting{}})
				ctx := context.Background()
				body := a.body("Tell me a joke.", stream)
				var stored []string
				for i := range 3 {
					r := env.Front.Do(ctx, post(a.path, "k", body))
					if r.Header.Get("X-Semcache") != "miss" {
						t.Fatalf("call %d: X-Semcache %q, want miss while the key fills", i, r.Header.Get("X-Semcache"))
					}
					stored = append(stored, answer(t, a, r))
					if i == 0 {
						// only-if-cached never calls the upstream: it is
						// served what the filling key has.
						oc := env.Front.Do(ctx, post(a.path, "k", body, "Cache-Control", "only-if-cached"))
						if oc.Header.Get("X-Semcache") != "hit-exact" || answer(t, a, oc) != stored[0] {
							t.Fatalf("only-if-cached on a filling key: status %d, X-Semcache %q", oc.Status, oc.Header.Get("X-Semcache"))
						}
					}
				}
				if stored[0] == stored[1] || stored[1] == stored[2] {
					t.Fatalf("the upstream repeated itself: %q", stored)
				}
				for i := range 6 {
					r := env.Front.Do(ctx, post(a.path, "k", body))
					if r.Header.Get("X-Semcache") != "hit-exact" {
						t.Fatalf("hit %d: X-Semcache %q", i, r.Header.Get("X-Semcache"))
					}
					if got := answer(t, a, r); got != stored[i%3] {
						t.Fatalf("hit %d served %q, want %q (in turn)", i, got, stored[i%3])
					}
					want := fmt.Sprintf("%d/3", i%3+1)
					m := read(t, r).marker
					if r.Header.Get("X-Semcache-Variant") != want || m == nil || m.Variant != i%3+1 || m.Variants != 3 {
						t.Fatalf("hit %d: X-Semcache-Variant %q marker %+v, want %s", i, r.Header.Get("X-Semcache-Variant"), m, want)
					}
				}
				if n := a.calls(env.Upstream); n != 3 {
					t.Fatalf("%d upstream calls, want 3", n)
				}
				// no-cache refreshes the key: one answer again, then it fills.
				r := env.Front.Do(ctx, post(a.path, "k", body, "X-Semcache-Cache-Control", "no-cache"))
				fresh := answer(t, a, r)
				if r2 := env.Front.Do(ctx, post(a.path, "k", body)); r2.Header.Get("X-Semcache") != "miss" {
					t.Fatalf("after a refresh: X-Semcache %q, want miss (filling again)", r2.Header.Get("X-Semcache"))
				}
				_ = fresh
			})
		}
	}
	t.Run("embeddings keep one answer", func(t *testing.T) {
		env := f(t, Options{Answers: engine.Answers{Variants: 3}})
		ctx := context.Background()
		body := embeddingsAPI.body("one vector per input", false)
		_ = env.Front.Do(ctx, post(embeddings.Path, "k", body))
		if r := env.Front.Do(ctx, post(embeddings.Path, "k", body)); r.Header.Get("X-Semcache") != "hit-exact" {
			t.Fatalf("X-Semcache %q", r.Header.Get("X-Semcache"))
		}
	})
}

func testSemanticVariants(t *testing.T, f Factory) {
	env := f(t, Options{Semantic: true, Answers: engine.Answers{Variants: 2}, Answerer: &counting{}})
	ctx := context.Background()
	a := chatAPI
	body := a.body("How do I reset my password on the website?", false)
	first := answer(t, a, env.Front.Do(ctx, post(a.path, "k", body)))
	if err := env.Cache.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// A semantic hit serves the entry although its key is still filling.
	para := a.body("how do i reset my password on the website", false)
	r := env.Front.Do(ctx, post(a.path, "k", para))
	if r.Header.Get("X-Semcache") != "hit-semantic" || answer(t, a, r) != first {
		t.Fatalf("paraphrase: X-Semcache %q", r.Header.Get("X-Semcache"))
	}
	second := answer(t, a, env.Front.Do(ctx, post(a.path, "k", body))) // fills the key
	if second == first {
		t.Fatal("the upstream repeated itself")
	}
	if err := env.Cache.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 4 {
		r := env.Front.Do(ctx, post(a.path, "k", para))
		if r.Header.Get("X-Semcache") != "hit-semantic" {
			t.Fatalf("X-Semcache %q", r.Header.Get("X-Semcache"))
		}
		seen[answer(t, a, r)] = true
	}
	if !seen[first] || !seen[second] {
		t.Fatalf("semantic hits served %v, want both answers in turn", seen)
	}
}

// alternating answers shortly, then at length, in turn.
type alternating struct{ n atomic.Int64 }

func (a *alternating) Answer(msgs []upstream.Message) string {
	if a.n.Add(1)%2 == 1 {
		return "Short answer."
	}
	return "A much longer answer that goes on for a while, with many more words in it than the short one has, so that its usage differs clearly."
}

// testVariantsSavedTokens: a hit saves the tokens of the answer it serves,
// not those of the entry's first answer.
func testVariantsSavedTokens(t *testing.T, f Factory) {
	env := f(t, Options{Answers: engine.Answers{Variants: 2}, Answerer: &alternating{}})
	ctx := context.Background()
	a := chatAPI
	body := a.body("Tell me something.", false)
	var completion float64
	for i := range 2 {
		r := env.Front.Do(ctx, post(a.path, "k", body))
		u := read(t, r).usage
		if r.Header.Get("X-Semcache") != "miss" || u == nil {
			t.Fatalf("call %d: X-Semcache %q, usage %v", i, r.Header.Get("X-Semcache"), u)
		}
		completion += float64(u.CompletionTokens)
	}
	if err := env.Cache.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ns, err := engine.NewNamespacer(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	saved := env.Metrics.TokensSaved.WithLabelValues(env.Metrics.Namespace(ns.Resolve(post(a.path, "k", nil).Header)), "completion")
	before := counterValue(t, saved)
	for i := range 4 { // each answer twice
		if r := env.Front.Do(ctx, post(a.path, "k", body)); r.Header.Get("X-Semcache") != "hit-exact" {
			t.Fatalf("hit %d: X-Semcache %q", i, r.Header.Get("X-Semcache"))
		}
	}
	if got := counterValue(t, saved) - before; got != 2*completion {
		t.Fatalf("completion tokens saved by 4 hits = %v, want %v (each answer's own usage, twice)", got, 2*completion)
	}
}
