package embed

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	small := ClipOptions{HeadRunes: 10, TailRunes: 8}
	tests := []struct {
		name string
		in   string
		o    ClipOptions
		want string
		ok   bool
	}{
		{"empty", "", small, "", false},
		{"short", "what is the capital of France?", ClipOptions{}, "what is the capital of France?", false},
		// 10 + 3 + 8 = 21 runes fit exactly.
		{"at the limit", strings.Repeat("x", 21), small, strings.Repeat("x", 21), false},
		{"one over, no spaces", strings.Repeat("x", 22), small, "xxxxxxxxxx … xxxxxxxx", true},
		{"cuts move to word boundaries", "alphabet soup gamma delta epsilon zeta eta theta",
			small, "alphabet … theta", true},
		{"cut already at a space", "0123456789 middle part here 01234567",
			small, "0123456789 … 01234567", true},
		{"runes, not bytes", strings.Repeat("é", 30), small, strings.Repeat("é", 10) + " … " + strings.Repeat("é", 8), true},
		{"zero head", "one two three four five six", ClipOptions{HeadRunes: 0, TailRunes: 4}.withDefaults(), "one two three four five six", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Clip(tt.in, tt.o)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Clip(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestClipKeepsTheQuestion(t *testing.T) {
	docs := strings.Repeat("Some retrieved document text that goes on and on. ", 2000)
	question := "Given the documents above, what year was the bridge finished?"
	got, ok := Clip(docs+"\n"+question, ClipOptions{})
	if !ok || !strings.HasSuffix(got, question) || !strings.HasPrefix(got, "Some retrieved document") {
		t.Fatalf("clipped long prompt lost its head or question: ok=%v, %d runes", ok, utf8.RuneCountInString(got))
	}
	limit := ClipOptions{}.MaxRunes()
	if n := utf8.RuneCountInString(got); n > limit {
		t.Fatalf("clipped to %d runes, max %d", n, limit)
	}
}

func TestClipOptionsValidate(t *testing.T) {
	err := ClipOptions{HeadRunes: -1, TailRunes: -2}.Validate()
	if err == nil || !strings.Contains(err.Error(), "HeadRunes") || !strings.Contains(err.Error(), "TailRunes") {
		t.Fatalf("Validate = %v, want both fields reported", err)
	}
	if err := (ClipOptions{}).Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewBounded(&fakeEmbedder{}, BoundOptions{Clip: ClipOptions{HeadRunes: -1}}); err == nil {
		t.Fatal("NewBounded accepted a negative HeadRunes")
	}
}

// FuzzClip checks Clip's invariants: short texts are untouched; a clipped
// text is at most MaxRunes runes, starts with a prefix of the text, ends
// with a suffix of it, and clipping again changes nothing.
func FuzzClip(f *testing.F) {
	for _, s := range []string{"", "a b c d e f g h i j k l m n o p", strings.Repeat("é ", 40), "\xff\xfe abc \x80", strings.Repeat("x", 100)} {
		f.Add(s, 5, 7)
	}
	f.Fuzz(func(t *testing.T, s string, head, tail int) {
		o := ClipOptions{HeadRunes: 1 + abs(head)%50, TailRunes: 1 + abs(tail)%50}
		got, ok := Clip(s, o)
		if !ok {
			if got != s {
				t.Fatalf("unclipped result differs from the input")
			}
			return
		}
		if n := utf8.RuneCountInString(got); n > o.MaxRunes() {
			t.Fatalf("clipped to %d runes, max %d", n, o.MaxRunes())
		}
		i := strings.Index(got, clipSeparator)
		if i < 0 || !strings.HasPrefix(s, got[:i]) || !strings.HasSuffix(s, got[i+len(clipSeparator):]) {
			t.Fatalf("Clip(%q) = %q is not head + separator + tail", s, got)
		}
		if again, ok2 := Clip(got, o); ok2 || again != got {
			t.Fatalf("clipping %q again gave %q, %v", got, again, ok2)
		}
	})
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestBounded(t *testing.T) {
	inner := &fakeEmbedder{}
	var reported atomic.Int64
	b, err := NewBounded(inner, BoundOptions{
		Clip:   ClipOptions{HeadRunes: 4, TailRunes: 4},
		OnClip: func(ctx context.Context, n int) { reported.Add(int64(n)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	in := []string{"short", "a very long text indeed", "tiny"}
	orig := slices.Clone(in)
	got, err := b.Embed(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"short", "a … deed", "tiny"}
	checkVectors(t, want, got)
	if calls := inner.callLog(); len(calls) != 1 || !slices.Equal(calls[0], want) {
		t.Fatalf("inner got %q, want %q", calls, want)
	}
	if !slices.Equal(in, orig) {
		t.Fatalf("Embed modified the caller's slice: %q", in)
	}
	if b.Clipped() != 1 || reported.Load() != int64(len(orig[1])) {
		t.Fatalf("Clipped = %d, OnClip bytes = %d; want 1 and %d", b.Clipped(), reported.Load(), len(orig[1]))
	}
	if b.Dimension() != fakeDim || b.ModelID() != "fake-8" {
		t.Fatal("Bounded does not report inner's Dimension and ModelID")
	}
	inner.set(func(f *fakeEmbedder) { f.err = errors.New("boom") })
	if _, err := b.Embed(context.Background(), in); err == nil {
		t.Fatal("inner's error was lost")
	}
}
