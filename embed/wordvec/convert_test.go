package wordvec

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"
)

func TestConvertSynthetic(t *testing.T) {
	data, stats := convertBytes(t, sourceJSON(synthetic()), 1000)
	v, err := parse(data)
	if err != nil {
		t.Fatalf("parse the converted file: %v", err)
	}
	if want := []string{"alpha", "beta", "gamma", "e-mail", "delta", "mixed"}; v.Len() != len(want) || v.Dims() != 4 {
		t.Fatalf("%d words of %d dims, want %d of 4", v.Len(), v.Dims(), len(want))
	} else {
		for i, w := range want {
			if got := string(v.word(i)); got != w {
				t.Errorf("word %d = %q, want %q (frequency order kept)", i, got, w)
			}
		}
	}
	if stats.Entries != 10 || stats.Words != 6 || stats.Skipped != 4 || stats.Bytes != int64(len(data)) {
		t.Errorf("stats = %+v, want 10 entries, 6 words, 4 skipped, %d bytes", stats, len(data))
	}
	tests := []struct {
		a, b string
		want float32
	}{
		{"alpha", "beta", 1},
		{"alpha", "gamma", 0},
		{"alpha", "delta", -1},
		{"ALPHA", "Beta", 1},
		{"alpha", "e-mail", float32(math.Sqrt(0.5))},
		{"mixed", "mixed", 1},
		{"mixed", "alpha", float32(0.2 / math.Sqrt(0.04+0.49+0.01+0.0025))},
	}
	for _, tt := range tests {
		got, ok := v.Similarity(tt.a, tt.b)
		if !ok || math.Abs(float64(got-tt.want)) > 0.01 {
			t.Errorf("Similarity(%q, %q) = %v, %v; want %v", tt.a, tt.b, got, ok, tt.want)
		}
	}
	for _, unknown := range []string{",", "1999", "'s", "zero", "", "alphabet", "alph"} {
		if _, ok := v.Similarity("alpha", unknown); ok {
			t.Errorf("Similarity(alpha, %q) ok, want unknown", unknown)
		}
		if _, ok := v.Vector(unknown); ok {
			t.Errorf("Vector(%q) ok, want unknown", unknown)
		}
	}
	vec, _ := v.Vector("mixed")
	f := vec.Float32(nil)
	var sq float64
	for _, x := range f {
		sq += float64(x) * float64(x)
	}
	if len(f) != 4 || math.Abs(sq-1) > 1e-5 || f[1] > -0.9 {
		t.Errorf("Float32(mixed) = %v (norm² %v), want a unit vector pointing mostly along -y", f, sq)
	}
	if n := v.Nearest("alpha", 2); len(n) != 2 || n[0].Word != "beta" || n[0].Similarity < 0.99 || n[1].Word != "e-mail" {
		t.Errorf("Nearest(alpha, 2) = %v, want beta then e-mail", n)
	}
	if n := v.Nearest("alpha", 100); len(n) != 5 || n[4].Word != "delta" {
		t.Errorf("Nearest(alpha, 100) = %v, want all 5 other words ending with delta", n)
	}
	if n := v.Nearest("nope", 3); n != nil {
		t.Errorf("Nearest(unknown) = %v, want nil", n)
	}
}

func TestConvertKeepsTopWords(t *testing.T) {
	data, stats := convertBytes(t, sourceJSON(synthetic()), 3)
	v, err := parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != 3 || string(v.word(2)) != "gamma" {
		t.Fatalf("kept %d words ending %q, want the 3 most frequent ending with gamma", v.Len(), v.word(v.Len()-1))
	}
	// It stops reading once it has enough words.
	if stats.Entries != 5 {
		t.Errorf("read %d entries, want 5", stats.Entries)
	}
}

func TestConvertRejects(t *testing.T) {
	good := string(sourceJSON(synthetic()))
	tests := []struct {
		name, src, wantErr string
	}{
		{"empty", "", "end of input"},
		{"not an object", "[1,2]", `want '{'`},
		{"empty object", "{}", "empty object"},
		{"no vectors", `{"dimensions":4,"l2NormIndex":4,"wordIndex":5}`, `no "vectors"`},
		{"vectors before the layout", `{"vectors":{}}`, "before a known layout"},
		{"no words at all", `{"dimensions":1,"l2NormIndex":1,"wordIndex":2,"vectors":{"1":[1,1,0]}}`, "no usable words"},
		{"short vector", strings.Replace(good, `"alpha":[3,0,0,0,3,0]`, `"alpha":[3,0,0,3,0]`, 1), "has 5 numbers"},
		{"long vector", strings.Replace(good, `"alpha":[3,0,0,0,3,0]`, `"alpha":[3,0,0,0,0,3,0]`, 1), "more than 6"},
		{"out of order", strings.Replace(good, `"beta":[0.5,0,0,0,0.5,2]`, `"beta":[0.5,0,0,0,0.5,7]`, 1), "not in vocabulary order"},
		{"wrong norm", strings.Replace(good, `"alpha":[3,0,0,0,3,0]`, `"alpha":[3,0,0,0,4,0]`, 1), "layout not understood"},
		{"bad number", strings.Replace(good, `"alpha":[3,`, `"alpha":[3e999,`, 1), "number"},
		{"truncated", good[:len(good)/2], "end of input"},
		{"bad escape", strings.Replace(good, `"alpha":`, `"al\qpha":`, 1), "bad escape"},
		{"deep nesting", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}", "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.CreateTemp(t.TempDir(), "out")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = convert(strings.NewReader(tt.src), f, 100)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("convert error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestJSONScannerStrings(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"plain"`, "plain"},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{`"caf\u00e9"`, "café"},
		{`"\ud83d\ude00"`, "😀"},
		{`"\ud83dx"`, "\uFFFDx"},
	}
	for _, tt := range tests {
		got, err := newJSONScanner(strings.NewReader(tt.in)).str()
		if err != nil || string(got) != tt.want {
			t.Errorf("str(%s) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	s := newJSONScanner(strings.NewReader(`{"a":[true,false,null,{"b":"c"},-1.5e3],"d":{}} 7`))
	if err := s.skip(0); err != nil {
		t.Fatalf("skip: %v", err)
	}
	if n, err := s.number(); err != nil || n != 7 {
		t.Errorf("after skip: %v, %v; want 7", n, err)
	}
}

func TestIsWord(t *testing.T) {
	tests := []struct {
		w    string
		want bool
	}{
		{"goal", true}, {"e-mail", true}, {"o'neill", true}, {"well-to-do", true}, {"a", true},
		{"n't", true}, {"", false}, {"Goal", false}, {"'s", false}, {"co--op", false}, {"x-", false},
		{"1999", false}, {"b2b", false}, {",", false}, {"café", false}, {"u.s.", false},
		{strings.Repeat("a", maxWordLen+1), false},
	}
	for _, tt := range tests {
		if got := isWord(tt.w); got != tt.want {
			t.Errorf("isWord(%q) = %v, want %v", tt.w, got, tt.want)
		}
	}
}

func TestConvertQuantError(t *testing.T) {
	// 200 pseudo-random vectors: the per-vector int8 cosine stays within
	// 0.02 of float64, and the sample covers every pair.
	entries := make([]entry, 200)
	seed := uint64(1)
	for i := range entries {
		vec := make([]float64, 50)
		for d := range vec {
			seed = seed*6364136223846793005 + 1442695040888963407
			vec[d] = float64(int64(seed>>11))/float64(1<<53) - 0.5
		}
		entries[i] = entry{word: "w" + strings.Repeat("x", i/26) + string(rune('a'+i%26)), vec: vec}
	}
	src := sourceJSON(entries)
	_, stats := convertBytes(t, src, 200)
	q := stats.Quant
	if q.Pairs != 200*199/2 || q.MaxAbs > 0.02 || q.MeanAbs <= 0 || q.MeanAbs > q.MaxAbs {
		t.Errorf("quantisation error %s: want 19900 pairs, 0 < mean ≤ max ≤ 0.02", q)
	}
	if !bytes.Contains(src, []byte(`"wa":[`)) {
		t.Fatal("synthetic source lacks its first word")
	}
}

func FuzzConvert(f *testing.F) {
	good := sourceJSON(synthetic())
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add([]byte(`{"dimensions":1,"l2NormIndex":1,"wordIndex":2,"vectors":{"a":[1,1,0]}}`))
	f.Add([]byte(`{"x":"\ud83d\ude00","dimensions":2,"l2NormIndex":2,"wordIndex":3,"vectors":{"a":[3,4,5,0],"b":[0,0,0,1]}}`))
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		stats, err := convert(bytes.NewReader(src), out, 4)
		if err != nil {
			return
		}
		data, err := os.ReadFile(out.Name())
		if err != nil {
			t.Fatal(err)
		}
		v, err := parse(data)
		if err != nil {
			t.Fatalf("convert succeeded but its file does not parse: %v", err)
		}
		if v.Len() != stats.Words || v.Len() == 0 || v.Len() > 4 {
			t.Fatalf("%d words in the file, stats say %d (limit 4)", v.Len(), stats.Words)
		}
	})
}
