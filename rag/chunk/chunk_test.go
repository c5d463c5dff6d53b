package chunk

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func mustNew(t testing.TB, o Options) *Splitter {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		in   string
		want []Chunk
	}{
		{"empty", Options{}, "", nil},
		{"blank lines only", Options{}, " \n\n\t\n", nil},
		{"one paragraph", Options{}, "Hello world.", []Chunk{{Text: "Hello world."}}},
		{
			"headings start chunks",
			Options{},
			"# Guide\n\nIntro text.\n\n## Install\n\nRun the installer.\n",
			[]Chunk{
				{Text: "# Guide\n\nIntro text.", Heading: "Guide"},
				{Text: "## Install\n\nRun the installer.", Heading: "Guide > Install", Position: 1},
			},
		},
		{
			"empty section stays with the next heading",
			Options{},
			"# Guide\n## Install\nRun it.\n### Linux\napt install x\n# Other\nMore.",
			[]Chunk{
				{Text: "# Guide\n\n## Install\n\nRun it.", Heading: "Guide > Install"},
				{Text: "### Linux\n\napt install x", Heading: "Guide > Install > Linux", Position: 1},
				{Text: "# Other\n\nMore.", Heading: "Other", Position: 2},
			},
		},
		{
			"paragraphs packed whole",
			Options{Size: 25, Overlap: -1},
			"aaaa aaaa\n\nbbbb bbbb\n\ncccc cccc",
			[]Chunk{
				{Text: "aaaa aaaa\n\nbbbb bbbb"},
				{Text: "cccc cccc", Position: 1},
			},
		},
		{
			"overlap carries whole words within a section",
			Options{Size: 30, Overlap: 12},
			"one two three four five six seven eight nine ten",
			[]Chunk{
				{Text: "one two three four five six"},
				{Text: "five six seven eight nine ten", Position: 1},
			},
		},
		{
			"no overlap across headings",
			Options{Size: 30, Overlap: 12},
			"# A\n\nfirst section words here\n\n# B\n\nsecond",
			[]Chunk{
				{Text: "# A\n\nfirst section words here", Heading: "A"},
				{Text: "# B\n\nsecond", Heading: "B", Position: 1},
			},
		},
		{
			"long word cut between runes",
			Options{Size: 8, Overlap: -1},
			strings.Repeat("x", 20),
			[]Chunk{{Text: "xxxxxxxx"}, {Text: "xxxxxxxx", Position: 1}, {Text: "xxxx", Position: 2}},
		},
		{
			"sentences of an oversize paragraph",
			Options{Size: 40, Overlap: -1},
			"First sentence is here. Second one follows it. Third.",
			[]Chunk{{Text: "First sentence is here."}, {Text: "Second one follows it. Third.", Position: 1}},
		},
		{
			"CJK sentences",
			Options{Size: 8, Overlap: -1},
			"这是第一句。这是第二句。",
			[]Chunk{{Text: "这是第一句。"}, {Text: "这是第二句。", Position: 1}},
		},
		{
			"fenced code is not parsed",
			Options{},
			"Text.\n\n```sh\n# not a heading\n\necho hi\n```\n\n# Real",
			[]Chunk{{Text: "Text.\n\n```sh\n# not a heading\n\necho hi\n```"}, {Text: "# Real", Heading: "Real", Position: 1}},
		},
		{
			"CRLF line ends",
			Options{},
			"# T\r\n\r\nbody\r\n",
			[]Chunk{{Text: "# T\n\nbody", Heading: "T"}},
		},
		{
			"hash without space is text",
			Options{},
			"#hashtag and #1",
			[]Chunk{{Text: "#hashtag and #1"}},
		},
		{
			"tokens unit",
			Options{Unit: Tokens, Size: 8, Overlap: -1},
			"aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii",
			[]Chunk{{Text: "aaaa bbbb cccc dddd eeee ffff gggg hhhh"}, {Text: "iiii", Position: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustNew(t, tt.opts).Split(tt.in)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Split(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestEstimateTokens(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"   \n", 0},
		{"hello", 2},
		{"hello world", 4},
		{"a, b.", 4},
		{"你好世界", 4},
		{"état", 1},
		{"x=1", 3},
	}
	for _, tt := range tests {
		if got := EstimateTokens(tt.in); got != tt.want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string // substring of the error; "" for success
	}{
		{"defaults", Options{}, ""},
		{"tokens defaults", Options{Unit: Tokens}, ""},
		{"bad unit", Options{Unit: "words"}, "unit"},
		{"too small", Options{Size: 4}, "size"},
		{"overlap too big", Options{Size: 100, Overlap: 60}, "overlap"},
		{"all at once", Options{Unit: "x", Size: 2, Overlap: 5}, "overlap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.o)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New error = %v, want it to mention %q", err, tt.want)
			case tt.want == "" && (s.Options().Size == 0 || s.Options().Overlap == 0):
				t.Fatalf("defaults not filled: %+v", s.Options())
			}
		})
	}
}

// nonSpace returns the runes of s that are not white space.
func nonSpace(s string) []rune {
	var out []rune
	for _, r := range s {
		if !unicode.IsSpace(r) {
			out = append(out, r)
		}
	}
	return out
}

// isSubsequence reports whether a appears in order within b.
func isSubsequence(a, b []rune) bool {
	j := 0
	for _, r := range b {
		if j < len(a) && a[j] == r {
			j++
		}
	}
	return j == len(a)
}

func checkInvariants(t *testing.T, s *Splitter, in string, chunks []Chunk) {
	t.Helper()
	var all []rune
	for i, c := range chunks {
		if c.Position != i {
			t.Fatalf("chunk %d has position %d", i, c.Position)
		}
		if strings.TrimSpace(c.Text) == "" {
			t.Fatalf("chunk %d is blank", i)
		}
		if n := s.Measure(c.Text); n > s.Options().Size {
			t.Fatalf("chunk %d measures %d > size %d: %q", i, n, s.Options().Size, c.Text)
		}
		if !utf8.ValidString(c.Text) {
			t.Fatalf("chunk %d is not valid UTF-8", i)
		}
		all = append(all, nonSpace(c.Text)...)
	}
	want := nonSpace(strings.ReplaceAll(in, "\r", "\n"))
	if s.Options().Overlap == 0 {
		if !slices.Equal(all, want) {
			t.Fatalf("without overlap the chunks must hold the input exactly\n in %q\nout %q", string(want), string(all))
		}
	} else if !isSubsequence(want, all) {
		t.Fatalf("input text lost\n in %q\nout %q", string(want), string(all))
	}
}

func TestSplitInvariants(t *testing.T) {
	doc := "# Título\n\nUn párrafo con acentos y emoji 🎉 que es bastante largo para cortar. " +
		strings.Repeat("Otra frase más aquí. ", 20) + "\n\n## Sección\n\n```go\nfunc main() {}\n```\n\n" +
		strings.Repeat("長い日本語の文です。", 15)
	for _, o := range []Options{
		{Size: 8, Overlap: -1}, {Size: 8, Overlap: 4}, {Size: 50}, {Size: 200, Overlap: 100},
		{Unit: Tokens, Size: 8}, {Unit: Tokens, Size: 30, Overlap: -1}, {},
	} {
		s := mustNew(t, o)
		checkInvariants(t, s, doc, s.Split(doc))
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("# A\n\nsome text. more text!\n\n## B\n\n```\ncode\n```", uint8(10), uint8(3), false)
	f.Add(strings.Repeat("word ", 100), uint8(0), uint8(0), true)
	f.Add("这是第一句。这是第二句。\r\n# x", uint8(1), uint8(200), false)
	f.Fuzz(func(t *testing.T, in string, size, overlap uint8, tokens bool) {
		if !utf8.ValidString(in) {
			t.Skip()
		}
		o := Options{Size: 8 + int(size)}
		o.Overlap = int(overlap)%(o.Size/2+2) - 1 // -1 (none) .. Size/2
		if o.Overlap == 0 {
			o.Overlap = -1
		}
		if tokens {
			o.Unit = Tokens
		}
		s := mustNew(t, o)
		checkInvariants(t, s, in, s.Split(in))
	})
}

func BenchmarkSplit(b *testing.B) {
	doc := strings.Repeat("# Heading\n\n"+strings.Repeat("Some sentence with several words in it. ", 40)+"\n\n", 20)
	s := mustNew(b, Options{})
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		s.Split(doc)
	}
}
