package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/semcache/semcache/cache"
)

func chunksOf(lens ...int) cache.Chunks {
	var c cache.Chunks
	for _, n := range lens {
		c = c.Append(n)
	}
	return c
}

func TestPieces(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		chunks cache.Chunks
		want   []string
	}{
		{"stored boundaries", "Hello there. How are you?", chunksOf(5, 7, 4, 9), []string{"Hello", " there.", " How", " are you?"}},
		{"boundaries not adding up: words", "Hello there.", chunksOf(5, 3), []string{"Hello", " there."}},
		{"boundary inside a rune: words", "héllo wörld", chunksOf(2, 10), []string{"héllo", " wörld"}},
		{"malformed boundaries: words", "a b", cache.Chunks{0xff}, []string{"a", " b"}},
		{"no boundaries: words with their spaces", "One. Two three!\n\nFour", nil, []string{"One.", " Two", " three!", "\n\nFour"}},
		{"trailing spaces join the last word", "end.  ", nil, []string{"end.  "}},
		{"leading spaces", "  x y", nil, []string{"  x", " y"}},
		{"long run cut at rune boundaries", strings.Repeat("é", 20), nil, []string{strings.Repeat("é", 12), strings.Repeat("é", 8)}},
		{"empty", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Pieces(tt.text, tt.chunks)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Fatalf("Pieces(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestPiecesBounded(t *testing.T) {
	text := strings.Repeat("word ", 3*MaxReplayPieces)
	for _, chunks := range []cache.Chunks{nil, chunksOf(repeatInts(5, 3*MaxReplayPieces)...)} {
		got := Pieces(text, chunks)
		if len(got) > MaxReplayPieces || len(got) < MaxReplayPieces/2 || strings.Join(got, "") != text {
			t.Fatalf("%d pieces (max %d), joined right: %v", len(got), MaxReplayPieces, strings.Join(got, "") == text)
		}
	}
}

func repeatInts(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// FuzzPieces: whatever the stored boundaries, the pieces spell the text,
// none is empty, none splits a rune, and there are at most
// MaxReplayPieces.
func FuzzPieces(f *testing.F) {
	f.Add("Hello there. How are you?", []byte(chunksOf(5, 7, 4, 9)))
	f.Add("héllo", []byte{2, 4})
	f.Add("日本語のテキスト、スペースなし。", []byte{})
	f.Add("a\n\n b", []byte{0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, text string, chunks []byte) {
		if !utf8.ValidString(text) {
			return
		}
		got := Pieces(text, cache.Chunks(chunks))
		if strings.Join(got, "") != text {
			t.Fatalf("pieces %q do not spell %q", got, text)
		}
		if len(got) > MaxReplayPieces {
			t.Fatalf("%d pieces", len(got))
		}
		for _, p := range got {
			if p == "" || !utf8.ValidString(p) {
				t.Fatalf("piece %q of %q", p, got)
			}
		}
	})
}

func TestZeroNumbers(t *testing.T) {
	in := `{"input_tokens":12,"input_tokens_details":{"cached_tokens":3},"output_tokens":40,"total_tokens":52,"note":"x"}`
	var got map[string]any
	if err := json.Unmarshal(ZeroNumbers(json.RawMessage(in)), &got); err != nil {
		t.Fatal(err)
	}
	want := `{"input_tokens":0,"input_tokens_details":{"cached_tokens":0},"note":"x","output_tokens":0,"total_tokens":0}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	if string(ZeroNumbers(json.RawMessage("not json"))) != "not json" {
		t.Fatal("non-JSON changed")
	}
}

func TestMarkerJSON(t *testing.T) {
	sim := 0.9312
	saved := json.RawMessage(`{"total_tokens":7}`)
	tests := []struct {
		name string
		o    RenderOptions
		want string
	}{
		{"none", RenderOptions{}, ""},
		{"marker", RenderOptions{Marker: &Marker{Hit: "exact", Entry: "e1", Age: 3}}, `{"hit":"exact","entry":"e1","age":3}`},
		{"marker keeps usage", RenderOptions{Marker: &Marker{Hit: "semantic", Entry: "e1", Similarity: &sim}},
			`{"hit":"semantic","entry":"e1","age":0,"similarity":0.9312}`},
		{"zero usage", RenderOptions{ZeroUsage: true, Marker: &Marker{Hit: "exact", Entry: "e1", Variant: 2, Variants: 3}},
			`{"hit":"exact","entry":"e1","age":0,"variant":2,"variants":3,"saved_usage":{"total_tokens":7}}`},
		{"zero usage without marker", RenderOptions{ZeroUsage: true}, `{"saved_usage":{"total_tokens":7}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.o.MarkerJSON(saved)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestAppendMember(t *testing.T) {
	tests := []struct{ obj, marker, want string }{
		{`{"a":1}`, `{"hit":"exact"}`, `{"a":1,"semcache":{"hit":"exact"}}`},
		{`{}`, `{"hit":"exact"}`, `{"semcache":{"hit":"exact"}}`},
		{"{\"a\":1}\n", `{}`, `{"a":1,"semcache":{}}`},
		{`[1]`, `{}`, `[1]`},
		{`{"a":1}`, ``, `{"a":1}`},
	}
	for _, tt := range tests {
		var m []byte
		if tt.marker != "" {
			m = []byte(tt.marker)
		}
		if got := string(AppendMember([]byte(tt.obj), m)); got != tt.want {
			t.Errorf("AppendMember(%s, %s) = %s, want %s", tt.obj, tt.marker, got, tt.want)
		}
	}
}
