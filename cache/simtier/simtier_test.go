package simtier

import (
	"context"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/verify"
	"github.com/semcache/semcache/embed/lexical"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/semcache/semcache/vectorstore"
)

type fakeEmbedder struct{}

func (fakeEmbedder) Embed(context.Context, []string) ([][]float32, error) { return nil, nil }
func (fakeEmbedder) ModelID() string                                      { return "fake" }

type fakeIndex struct{}

func (fakeIndex) Upsert(context.Context, []vectorstore.Record) error { return nil }
func (fakeIndex) Search(context.Context, vectorstore.Query) ([]vectorstore.Hit, error) {
	return nil, nil
}
func (fakeIndex) Delete(context.Context, []string) error                       { return nil }
func (fakeIndex) DeleteWhere(context.Context, vectorstore.Filter) (int, error) { return 0, nil }

func TestOptions(t *testing.T) {
	tests := []struct {
		name          string
		cfg           Config
		wantThreshold float32
		wantVerifier  bool
		wantErr       string
	}{
		{name: "default per kind", cfg: Config{Embedder: fakeEmbedder{}, Index: fakeIndex{}, Kind: "use"}, wantThreshold: verify.USEModel.MinSimilarity, wantVerifier: true},
		{name: "lexical default", cfg: Config{Embedder: fakeEmbedder{}, Index: fakeIndex{}, Kind: "lexical"}, wantThreshold: verify.LexicalModel.MinSimilarity, wantVerifier: true},
		{name: "override", cfg: Config{Embedder: fakeEmbedder{}, Index: fakeIndex{}, Kind: "use", Threshold: 0.8}, wantThreshold: 0.8, wantVerifier: true},
		{name: "no verifier", cfg: Config{Embedder: fakeEmbedder{}, Index: fakeIndex{}, Kind: "lexical", NoVerifier: true}, wantThreshold: 0.6},
		{name: "unknown kind needs a threshold", cfg: Config{Embedder: fakeEmbedder{}, Index: fakeIndex{}, Kind: "mystery"}, wantErr: `kind "mystery"`},
		{name: "all problems at once", cfg: Config{Kind: "lexical"}, wantErr: "no embedder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := Options(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Options error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if opts.Threshold != tc.wantThreshold {
				t.Errorf("threshold = %v, want %v", opts.Threshold, tc.wantThreshold)
			}
			if (opts.Verify != nil) != tc.wantVerifier {
				t.Errorf("verifier present = %v, want %v", opts.Verify != nil, tc.wantVerifier)
			}
		})
	}
	if _, err := Options(Config{Kind: "lexical"}); err == nil || !strings.Contains(err.Error(), "no index") {
		t.Errorf("both missing parts are reported: %v", err)
	}
}

func TestOptionsPassesSettingsThrough(t *testing.T) {
	cfg := Config{Embedder: fakeEmbedder{}, Index: fakeIndex{}, Kind: "lexical", TopK: 3,
		EmbedTimeout: time.Second, SearchTimeout: 2 * time.Second, ShadowAll: true,
		Thresholds: map[string]float32{"ns": 0.9}, Shadow: map[string]bool{"x": true}}
	opts, err := Options(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if opts.TopK != 3 || opts.EmbedTimeout != time.Second || opts.SearchTimeout != 2*time.Second || !opts.ShadowAll ||
		opts.Thresholds["ns"] != 0.9 || !opts.Shadow["x"] {
		t.Errorf("settings not passed through: %+v", opts)
	}
}

func TestJudge(t *testing.T) {
	opts, err := Options(Config{Embedder: fakeEmbedder{}, Index: fakeIndex{}, Kind: "lexical"})
	if err != nil {
		t.Fatal(err)
	}
	js := opts.Verify.Judge(context.Background(), cache.Text{Prompt: "How do I undo 3 git commits?"}, []cache.Candidate{
		{Text: cache.Text{Prompt: "How do I undo 2 git commits?"}, Similarity: 0.95},
		{Text: cache.Text{Prompt: "How do I undo 3 git commits?"}, Similarity: 1},
	})
	if len(js) != 2 || js[0].OK || js[0].Reason != "numbers" {
		t.Errorf("differing numbers: %+v, want rejected for numbers", js)
	}
	if len(js) == 2 && (!js[1].OK || js[1].Score <= 0) {
		t.Errorf("identical question: %+v, want accepted with a score", js[1])
	}
	if got := Reasons(); len(got) != len(verify.Reasons())+1 || got[0] != "numbers" || got[len(got)-1] != ReasonContext {
		t.Errorf("Reasons = %v", got)
	}
}

func TestJudgeContexts(t *testing.T) {
	lex, err := lexical.New(lexical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := Options(Config{Embedder: lex, Index: fakeIndex{}, Kind: "lexical", Verifier: verify.Options{MinScore: 0.01}})
	if err != nil {
		t.Fatal(err)
	}
	q := cache.Text{Prompt: "who painted it", Context: "Describe the significance of the Mona Lisa."}
	js := opts.Verify.Judge(context.Background(), q, []cache.Candidate{
		{Text: cache.Text{Prompt: "who painted it", Context: "Describe the significance of the Mona Lisa!"}, Similarity: 0.99},
		{Text: cache.Text{Prompt: "who painted it", Context: "Describe the significance of the Sistine Chapel."}, Similarity: 0.9},
		{Text: cache.Text{Prompt: "who painted it"}, Similarity: 0.9},
	})
	if !js[0].OK {
		t.Errorf("same follow-up in the same conversation: %+v, want accepted", js[0])
	}
	for i, want := range []string{"", ReasonContext, ReasonContext} {
		if i > 0 && (js[i].OK || js[i].Reason != want) {
			t.Errorf("candidate %d: %+v, want rejected for %s", i, js[i], want)
		}
	}
}

// TestJudgeContextAnswers: conversations whose openings got the very same
// (long enough) answer continue the same exchange, however the openings
// are worded; conversations whose answers differ never match, even after
// the same opening; without answers on one side the verifier decides.
func TestJudgeContextAnswers(t *testing.T) {
	lex, err := lexical.New(lexical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := Options(Config{Embedder: lex, Index: fakeIndex{}, Kind: "lexical"})
	if err != nil {
		t.Fatal(err)
	}
	fp := func(text string) string {
		return cache.ContextAnswersFingerprint([][]byte{[]byte(`{"content":` + strconv.Quote(text) + `,"role":"assistant"}`)}, len(strings.Fields(text)))
	}
	answer := fp("The human heart has four chambers: two atria above and two ventricles below, separated by valves that keep blood flowing one way.")
	other := fp("The Sistine Chapel is a chapel in the Apostolic Palace, famous for the ceiling Michelangelo painted between 1508 and 1512.")
	short := fp("Four.")
	if answer == "" || other == "" || answer == other {
		t.Fatalf("fingerprints %q %q", answer, other)
	}
	q := cache.Text{Prompt: "how many chambers does it have", Context: "Can you explain the human heart's structure?", ContextAnswers: answer}
	if cache.ContextAnswersVouch(short) || !cache.ContextAnswersVouch(answer) {
		t.Fatalf("vouch: short %v, long %v", cache.ContextAnswersVouch(short), cache.ContextAnswersVouch(answer))
	}
	cand := func(ctx, answers string) cache.Candidate {
		return cache.Candidate{Text: cache.Text{Prompt: "how many chambers does it have", Context: ctx, ContextAnswers: answers}, Similarity: 0.9}
	}
	tests := []struct {
		name string
		cand cache.Candidate
		ok   bool
	}{
		{"reworded opening, same answer", cand("Describe the structure of the human heart.", answer), true},
		{"reworded opening, another answer", cand("Describe the structure of the human heart.", other), false},
		{"same opening, another answer", cand("Can you explain the human heart's structure?", other), false},
		{"reworded opening, no answer", cand("Describe the structure of the human heart.", ""), false},
		{"another opening, another answer", cand("Tell me about the Sistine Chapel.", other), false},
		{"no context at all", cache.Candidate{Text: cache.Text{Prompt: "how many chambers does it have", ContextAnswers: answer}, Similarity: 0.9}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := opts.Verify.Judge(context.Background(), q, []cache.Candidate{tt.cand})[0]
			if j.OK != tt.ok || (!tt.ok && j.Reason != ReasonContext) {
				t.Fatalf("%+v, want OK=%v (else %s)", j, tt.ok, ReasonContext)
			}
		})
	}
	// A short answer vouches for nothing: the contexts are checked (the same
	// opening passes, a reworded one does not with the lexical verifier).
	qs := q
	qs.ContextAnswers = short
	for _, tt := range []struct {
		ctx string
		ok  bool
	}{{"Can you explain the human heart's structure?", true}, {"Describe the structure of the human heart.", false}} {
		if j := opts.Verify.Judge(context.Background(), qs, []cache.Candidate{cand(tt.ctx, short)})[0]; j.OK != tt.ok {
			t.Errorf("short answer after %q: %+v, want OK=%v", tt.ctx, j, tt.ok)
		}
	}
	// The fingerprint does not vouch for the follow-up itself.
	j := opts.Verify.Judge(context.Background(), q, []cache.Candidate{{Text: cache.Text{Prompt: "how many valves does it have",
		Context: "Describe the structure of the human heart.", ContextAnswers: answer}, Similarity: 0.9}})[0]
	if j.OK {
		t.Fatalf("another follow-up after the same answer was accepted: %+v", j)
	}
}
