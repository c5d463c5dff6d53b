package lexical

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func newTestEmbedder(t testing.TB) *Embedder {
	t.Helper()
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func embedOne(t testing.TB, e *Embedder, text string) []float32 {
	t.Helper()
	v, err := e.Embed(context.Background(), []string{text})
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func norm2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func checkUnit(t testing.TB, v []float32, dim int) {
	t.Helper()
	if len(v) != dim {
		t.Fatalf("len = %d, want %d", len(v), dim)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t.Fatalf("v[%d] = %v", i, x)
		}
	}
	if n := norm2(v); math.Abs(n-1) > 1e-5 {
		t.Fatalf("norm = %v, want 1", n)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantDim int
		wantID  string
		wantErr bool
	}{
		{"default", Options{}, 512, "lexical-v1-512", false},
		{"custom", Options{Dimension: 256}, 256, "lexical-v1-256", false},
		{"odd", Options{Dimension: 300}, 300, "lexical-v1-300", false},
		{"too small", Options{Dimension: 8}, 0, "", true},
		{"negative", Options{Dimension: -1}, 0, "", true},
		{"too big", Options{Dimension: 1 << 20}, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.opts)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("New(%+v) succeeded, want error", tt.opts)
				}
				if !strings.HasPrefix(err.Error(), "lexical: ") {
					t.Errorf("error %q lacks package prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Dimension() != tt.wantDim || e.ModelID() != tt.wantID {
				t.Errorf("got (%d, %q), want (%d, %q)", e.Dimension(), e.ModelID(), tt.wantDim, tt.wantID)
			}
			checkUnit(t, embedOne(t, e, "hello world"), tt.wantDim)
		})
	}
}

func TestDeterminismAndUnitNorm(t *testing.T) {
	texts := []string{
		"What is the capital of France?",
		"",
		"   \t\n",
		"!!!???",
		"a",
		"Explain quicksort vs mergesort in Go, with examples.",
		strings.Repeat("the same word again ", 500),
	}
	e1, e2 := newTestEmbedder(t), newTestEmbedder(t)
	a, err := e1.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		b, err := e2.Embed(context.Background(), texts)
		if err != nil {
			t.Fatal(err)
		}
		for i := range texts {
			checkUnit(t, a[i], DefaultDimension)
			if !slices.Equal(a[i], b[i]) {
				t.Fatalf("text %q: vectors differ between calls", texts[i])
			}
		}
	}
}

func TestEmptyVector(t *testing.T) {
	e := newTestEmbedder(t)
	for _, text := range []string{"", " ", "\n\t ", "...", "—", "🙂"} {
		v := embedOne(t, e, text)
		if v[0] != 1 {
			t.Errorf("%q: v[0] = %v, want 1", text, v[0])
		}
		checkUnit(t, v, DefaultDimension)
	}
	if v := embedOne(t, e, "word"); v[0] == 1 {
		t.Error("non-empty text got the empty vector")
	}
}

func TestSimilarityOrdering(t *testing.T) {
	tests := []struct {
		name              string
		anchor, near, far string
	}{
		{"reorder", "how do I reverse a linked list in python",
			"in python, how do I reverse a linked list", "what is the best pizza topping"},
		{"paraphrase", "What is the capital city of France?",
			"capital of France", "How tall is Mount Everest?"},
		{"plural and tense", "sorting lists of numbers",
			"sort a list of number", "weather forecast tomorrow"},
		{"contraction", "why doesn't my code compile",
			"why does my code not compile", "recipe for banana bread"},
		{"typo", "recommend a restaurant in amsterdam",
			"recomend a restaurant in amsterdm", "recommend a good book"},
		{"negation matters", "is coffee healthy",
			"is coffee healthy or not", "is coffee not healthy"},
	}
	e := newTestEmbedder(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, n, f := embedOne(t, e, tt.anchor), embedOne(t, e, tt.near), embedOne(t, e, tt.far)
			cn, cf := cosine(a, n), cosine(a, f)
			if cn <= cf {
				t.Errorf("cos(anchor, near) = %.3f <= cos(anchor, far) = %.3f", cn, cf)
			}
		})
	}
}

func TestNegationNotStopWord(t *testing.T) {
	e := newTestEmbedder(t)
	base := embedOne(t, e, "is python faster than java")
	for _, other := range []string{"is python not faster than java", "is python slower than java"} {
		if c := cosine(base, embedOne(t, e, other)); c > 0.9 {
			t.Errorf("cos(%q) = %.3f, want meaning-flipping edit to cost more than 0.1", other, c)
		}
	}
	// A pure stop-word edit costs less than a negation edit.
	stop := cosine(base, embedOne(t, e, "is the python faster than the java"))
	neg := cosine(base, embedOne(t, e, "is python not faster than java"))
	if stop <= neg {
		t.Errorf("stop-word edit %.3f <= negation edit %.3f", stop, neg)
	}
}

func TestInsensitivity(t *testing.T) {
	tests := []struct{ a, b string }{
		{"Hello World", "hello world"},
		{"hello   world", "hello world"},
		{"  hello\tworld\n", "hello world"},
		{"Hello, world!", "hello world"},
		{"¿Qué tal?", "qué tal"},
		{"HELLO-WORLD", "hello world"},
		{"don't", "do not"},
		{"don’t", "do not"},
		{"DONT", "do not"},
		{"I can't", "i cannot"},
		{"ｈｅｌｌｏ　ｗｏｒｌｄ", "hello world"},      // full-width (NFKC)
		{"ﬁle", "file"},                     // ligature (NFKC)
		{"Cafe\u0301", "café"},              // combining accent
		{"it's John's", "it john"},          // 's dropped
		{"version 1.2.3", "Version 1.2.3."}, // trailing dot is punctuation
		{"Straße", "straße"},                // non-ASCII lowercase
		{"ΑΘΗΝΑ", "αθηνα"},                  // Greek
		{"you're", "you are"},
	}
	e := newTestEmbedder(t)
	for _, tt := range tests {
		va, vb := embedOne(t, e, tt.a), embedOne(t, e, tt.b)
		if !slices.Equal(va, vb) {
			t.Errorf("%q and %q differ (cos %.4f)", tt.a, tt.b, cosine(va, vb))
		}
	}
}

func TestDistinct(t *testing.T) {
	// Texts that must not collapse onto the same vector.
	tests := []struct{ a, b string }{
		{"3.14", "314"},
		{"2023", "2024"},
		{"cat", "dog"},
		{"东京", "京东"}, // per-character CJK tokens keep order via bigrams
		{"l'eau", "leau"},
	}
	e := newTestEmbedder(t)
	for _, tt := range tests {
		if c := cosine(embedOne(t, e, tt.a), embedOne(t, e, tt.b)); c > 0.999 {
			t.Errorf("%q and %q: cos %.4f, want distinct", tt.a, tt.b, c)
		}
	}
}

func TestUnicode(t *testing.T) {
	texts := []string{
		"東京の天気は？",
		"Как дела?",
		"مرحبا بالعالم",
		"नमस्ते दुनिया",
		"สวัสดีชาวโลก",
		"안녕하세요 세계",
		"emoji 🚀🔥 only",
		"\x00\x01\xff invalid utf8 \xc3",
		"𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
	}
	e := newTestEmbedder(t)
	vs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		checkUnit(t, v, DefaultDimension)
		if v[0] == 1 && norm2(v[1:]) == 0 {
			t.Errorf("%q embedded as empty", texts[i])
		}
	}
	// Same-script texts sharing words are closer than cross-script ones.
	a, b, c := embedOne(t, e, "東京の天気"), embedOne(t, e, "東京の天気は晴れ"), embedOne(t, e, "Как дела")
	if cosine(a, b) <= cosine(a, c) {
		t.Errorf("CJK overlap %.3f <= unrelated %.3f", cosine(a, b), cosine(a, c))
	}
}

func TestTokens(t *testing.T) {
	tests := []struct {
		in   string
		want []string // stem forms
	}{
		{"Don't stop", []string{"do", "not", "stop"}},
		{"won't shan't ain't", []string{"will", "not", "shall", "not", "is", "not"}},
		{"we'll they've I'd I'm", []string{"we", "will", "they", "have", "i", "would", "i", "am"}},
		{"o'clock", []string{"o", "clock"}},
		{"running jumped studies boxes", []string{"run", "jump", "study", "box"}},
		{"make making class status", []string{"mak", "mak", "class", "status"}},
		{"string sing", []string{"string", "sing"}},
		{"pi=3.14, n=1,000", []string{"pi", "3.14", "n", "1", "000"}},
		{"gpt-4o vs claude", []string{"gpt", "4o", "vs", "claud"}},
		{"日本語", []string{"日", "本", "語"}},
		{"rock’n’roll", []string{"rock", "n", "roll"}},
	}
	e := newTestEmbedder(t)
	for _, tt := range tests {
		tz := tokenizer{p: &e.p}
		tz.run(context.Background(), appendNormalized(nil, tt.in))
		var got []string
		for _, tok := range tz.toks {
			got = append(got, string(tz.words[tok.stemStart:tok.stemEnd]))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("tokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	e := newTestEmbedder(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Embed(ctx, []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestConcurrent(t *testing.T) {
	e := newTestEmbedder(t)
	texts := []string{"alpha beta", "gamma delta epsilon", "", "東京"}
	want, _ := e.Embed(context.Background(), texts)
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				got, err := e.Embed(context.Background(), texts)
				if err != nil {
					done <- err
					return
				}
				for j := range got {
					if !slices.Equal(got[j], want[j]) {
						done <- errors.New("concurrent result differs")
						return
					}
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzEmbed(f *testing.F) {
	for _, s := range []string{"", "hello world", "don't", "3.14.15", "東京の天気", "a'b'c'", "'''", "\xff\xfe", "Ǆ ǅ ǆ", strings.Repeat("ab", 100)} {
		f.Add(s)
	}
	e, err := New(Options{Dimension: 64})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vs, err := e.Embed(context.Background(), []string{s, s})
		if err != nil {
			t.Fatal(err)
		}
		checkUnit(t, vs[0], 64)
		if !slices.Equal(vs[0], vs[1]) {
			t.Fatal("non-deterministic")
		}
	})
}

func BenchmarkEmbed20Words(b *testing.B) {
	e := newTestEmbedder(b)
	texts := []string{"Could you please explain the difference between a process and a thread in modern operating systems, with clear short examples?"}
	if n := len(strings.Fields(texts[0])); n != 20 {
		b.Fatalf("benchmark text has %d words, want 20", n)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Embed(ctx, texts); err != nil {
			b.Fatal(err)
		}
	}
}
