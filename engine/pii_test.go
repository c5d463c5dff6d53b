package engine

import (
	"strconv"
	"strings"
	"testing"
)

func TestDetectPII(t *testing.T) {
	tests := []struct {
		text string
		want PIIKind // "" for none
	}{
		{"write to jane.doe+news@example.co.uk please", PIIEmail},
		{"me@localhost", ""}, // no top-level domain
		{"an @ sign alone, or @handle", ""},
		{"card 4111 1111 1111 1111 exp 12/25", PIICard},
		{"card 4111-1111-1111-1111", PIICard},
		{"4111111111111111", PIICard},
		{"amex 3782 822463 10005", PIICard},
		{"card 4111 1111 1111 1112", ""}, // fails Luhn
		{"order 0000 0000 0000 0000", ""},
		{"id 12345678901234567890123", ""}, // too long for a card
		{"call me at +1 415 555 2671", PIIPhone},
		{"ring +44 20 7946 0958", PIIPhone},
		{"whatsapp +49-30-901820", PIIPhone},
		{"(415) 555-2671", PIIPhone},
		{"415-555-2671", PIIPhone},
		{"415.555.2671 is the office", PIIPhone},
		{"+12", ""},           // too few digits
		{"5 + 3 = 8", ""},     // arithmetic
		{"version 1.2.3", ""}, // not a phone
		{"2024-01-15", ""},    // a date
		{"4155552671", ""},    // unformatted: a documented limit
		{"What is 12 * 37?", ""},
		{"(415)555-2671", PIIPhone},
		{"415 555 2671", PIIPhone},
		{"415-555.2671", ""}, // mixed separators
		{"x4155552671", ""},
		{"a@b.c", ""},
		{"write to user@sub.example.org.", PIIEmail},
		{"@example.com", ""},
		{"+4915112345678", PIIPhone},
		{"+1 2 3 4 5 6 7 8 9 1 2 3 4 5 6 7", ""}, // more than 15 digits
		{"1+2345678901", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := DetectPII(tt.text)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("DetectPII(%q) = %q, %v; want %q", tt.text, got, ok, tt.want)
		}
	}
}

func TestLuhn(t *testing.T) {
	for _, tt := range []struct {
		n  string
		ok bool
	}{
		{"4111111111111111", true}, {"5500 0000 0000 0004", true}, {"4111111111111112", false},
		{"0000000000000000", false}, {"411111111111", false}, {"41111111111111111111", false},
	} {
		if got := luhn(tt.n); got != tt.ok {
			t.Errorf("luhn(%q) = %v, want %v", tt.n, got, tt.ok)
		}
	}
}

// FuzzDetectPII: any text is scanned without a panic, and a reported
// card number really is in the text with a valid check digit.
func FuzzDetectPII(f *testing.F) {
	for _, s := range []string{"jane@example.com", "4111 1111 1111 1111", "+44 20 7946 0958", "(415) 555-2671",
		"1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9", "++1 (((", "@@@.com", strings.Repeat("1-", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, ok := DetectPII(s)
		if ok != (kind != "") {
			t.Fatalf("DetectPII(%q) = %q, %v", s, kind, ok)
		}
		if kind == PIICard && !hasCard(s) {
			t.Fatalf("card reported in %q without one", s)
		}
		if kind == PIIEmail && !strings.Contains(s, "@") {
			t.Fatalf("email reported in %q without an @", s)
		}
		if !strings.ContainsAny(s, "0123456789@") && ok {
			t.Fatalf("%q has no digit nor @ but %q was reported", s, kind)
		}
	})
}

// FuzzParseThreshold: any value either parses into cut-offs in (0, 1] or
// is refused; never a panic.
func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"0.9", "score=0.8", "similarity=0.8, score=0.95", "1e-3", "NaN", "=", ",,", "score=", "0x1p-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			if th != (Threshold{}) {
				t.Fatalf("%q: error %v with %+v", s, err, th)
			}
			return
		}
		for _, v := range []float32{th.Similarity, th.Score} {
			if v < 0 || v > 1 || v != v {
				t.Fatalf("%q: %+v out of range", s, th)
			}
		}
		if th == (Threshold{}) {
			t.Fatalf("%q parsed to nothing", s)
		}
	})
}

// FuzzParseControls: whatever request headers arrive, the controls parse
// without a panic, a max-age is never negative, and a sub-namespace is
// always a valid single segment.
func FuzzParseControls(f *testing.F) {
	for _, s := range [][3]string{{"max-age=60", "0.9", "drafts"}, {"s-maxage=1, only-if-cached", "score=0.5", "a.b-c"},
		{`max-age="5"`, "x", "../x"}, {"no-cache, max-age=0", "", ""}, {"max-age=99999999999999999999999", "1", "é"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, cc, threshold, ns string) {
		h := map[string][]string{"Cache-Control": {cc}, "X-Semcache-Threshold": {threshold}, "X-Semcache-Namespace": {ns}}
		c, err := ParseControls(h, DefaultMaxTTL)
		if c.MaxAge < 0 || c.MaxAge > maxAgeCap {
			t.Fatalf("max-age %v from %q", c.MaxAge, cc)
		}
		if err == nil && c.SubNamespace != "" {
			if _, err := ParseSubNamespace(c.SubNamespace); err != nil || strings.Contains(c.SubNamespace, "/") {
				t.Fatalf("sub-namespace %q accepted", c.SubNamespace)
			}
		}
	})
}

// benchText is a prompt of about n bytes of ordinary prose and numbers,
// with no personal data (the detector's worst case: it reads it all).
func benchText(n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteString("In 2024 the team shipped 3 releases, version 1.2.3 among them; 12 * 37 = 444. Ask support for details. ")
	}
	return b.String()
}

func BenchmarkDetectPII(b *testing.B) {
	for _, n := range []int{1 << 10, 64 << 10} {
		text := benchText(n)
		b.Run(strconv.Itoa(n>>10)+"KiB", func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				if _, ok := DetectPII(text); ok {
					b.Fatal("false positive")
				}
			}
		})
	}
}

// BenchmarkRules: the cost the rules add to a request: three rules whose
// conditions all read the body (temperature, token estimate, PII), none
// applying.
func BenchmarkRules(b *testing.B) {
	rs, err := NewRules([]RuleConfig{
		{Name: "hot", When: RuleWhen{TemperatureAbove: ptr(1.5)}, Action: RuleBypass},
		{Name: "long", When: RuleWhen{PromptTokensAbove: 1 << 20}, Action: RuleBypass},
		{Name: "pii", When: RuleWhen{PII: ptr(true)}, Action: RuleBypass},
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{4 << 10, 1 << 20} {
		body := []byte(chatBody(benchText(n)))
		b.Run(strconv.Itoa(n>>10)+"KiB", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if r := rs.first(&ruleSubject{route: "chat", model: "m", ns: "anonymous", body: body}); r != nil {
					b.Fatal(r.name)
				}
			}
		})
	}
	// The worst case of the token estimate: a long prompt just under the
	// bound is estimated whole.
	body := []byte(chatBody(benchText(64 << 10)))
	long, _ := NewRules([]RuleConfig{{Name: "long", When: RuleWhen{PromptTokensAbove: 60000}, Action: RuleBypass}})
	b.Run("tokens-64KiB", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if r := long.first(&ruleSubject{route: "chat", body: body}); r != nil {
				b.Fatal(r.name)
			}
		}
	})
}
