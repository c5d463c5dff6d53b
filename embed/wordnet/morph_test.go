package wordnet

import (
	"slices"
	"strings"
	"testing"
)

func TestLemmasSynthetic(t *testing.T) {
	w := syntheticWordNet(t)
	tests := []struct {
		word string
		want []string
	}{
		{"dog", []string{"dog"}},
		{"dogs", []string{"dog"}},
		{"Dogs", []string{"dog"}},
		{"mice", []string{"mouse"}},                     // noun.exc
		{"bacteria", []string{"bacteria", "bacterium"}}, // a lemma and an exception
		{"ran", []string{"run"}},                        // verb.exc
		{"iterates", []string{"iterate"}},
		{"traversed", []string{"traverse"}},             // -ed → -e comes before -ed
		{"hated", []string{"hate"}},                     // the first rule that yields a lemma, not "hat" too
		{"hats", []string{"hat"}},                       // verb -s
		{"transformations", []string{"transformation"}}, // noun -s
		{"transforms", []string{"transform"}},           // verb -s
		{"puppies", []string{"puppy"}},                  // -ies → -y after -s fails
		{"boxes", []string{"box"}},                      // -xes → -x
		{"boxesful", []string{"boxful"}},                // -ful: morph the part before it
		{"glass", []string{"glass"}},                    // -ss is not a plural: no "glas"
		{"as", nil},                                     // two letters: no noun rules, so no "a"
		{"hotter", []string{"hot"}},                     // adj.exc
		{"better", []string{"good"}},                    // adj.exc; "well" is not an adjective here
		{"best", []string{"well"}},                      // adv.exc
		{"oxen", nil},                                   // its exception names no lemma
		{"heart rate", []string{"heart rate"}},
		{"Heart Rates", []string{"heart rate"}}, // collocation: the words morphed one by one
		{"looked up", []string{"look up"}},      // verb.exc has the whole collocation
		{"looking up", []string{"look up"}},
		{"northern lights", []string{"northern lights"}},
		{"wednesday", []string{"wednesday"}},
		{"qwerty", nil},
		{"", nil},
		{strings.Repeat("a", 300), nil},
		{"heart  rate", nil},
	}
	for _, tt := range tests {
		got := w.Lemmas(tt.word)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Lemmas(%q) = %q, want %q", tt.word, got, tt.want)
		}
		if known := w.Known(tt.word); known != (len(tt.want) > 0) {
			t.Errorf("Known(%q) = %v, want %v", tt.word, known, len(tt.want) > 0)
		}
	}
}

func TestPhraseSynthetic(t *testing.T) {
	w := syntheticWordNet(t)
	tests := []struct {
		words  string
		n      int
		wantOK bool
	}{
		{"northern lights shine", 2, true},
		{"aurora borealis northern lights", 2, true},
		{"heart rates rise", 2, true}, // through morphology
		{"Heart Rate", 2, true},
		{"looked up the dog", 2, true},
		{"dog bites", 1, true},
		{"dogs", 1, true},
		{"qwerty dog", 0, false},
		{"", 0, false},
		{"the heart rate", 0, false},
	}
	for _, tt := range tests {
		n, ok := w.Phrase(strings.Fields(tt.words))
		if n != tt.n || ok != tt.wantOK {
			t.Errorf("Phrase(%q) = %d, %v; want %d, %v", tt.words, n, ok, tt.n, tt.wantOK)
		}
	}
	long := []string{strings.Repeat("x", 200), strings.Repeat("y", 200)}
	if n, ok := w.Phrase(long); ok || n != 0 {
		t.Errorf("Phrase(two 200-byte words) = %d, %v", n, ok)
	}
}

// The tests below need the real database (.ci/wordnet.sh).

func TestLemmasReal(t *testing.T) {
	w := testWordNet(t)
	tests := []struct {
		word string
		want []string // must be among the lemmas
	}{
		{"bacteria", []string{"bacteria"}},
		{"ran", []string{"run"}},
		{"iterates", []string{"iterate"}},
		{"transformations", []string{"transformation"}},
		{"transforms", []string{"transform"}},
		{"traversed", []string{"traverse"}},
		{"mice", []string{"mouse"}},
		{"geese", []string{"goose"}},
		{"children", []string{"child"}},
		{"went", []string{"go"}},
		{"criteria", []string{"criterion"}},
		{"analyses", []string{"analysis", "analyse"}},
		{"better", []string{"good", "well"}},
		{"worse", []string{"bad"}},
		{"hottest", []string{"hot"}},
		{"fastest", []string{"fast"}},
		{"puppies", []string{"puppy"}},
		{"kilometres", []string{"kilometre"}},
		{"heart rates", []string{"heart rate"}},
		{"looked up", []string{"look up"}},
		{"glasses", []string{"glasses", "glass"}},
		{"Wednesday", []string{"wednesday"}},
		{"new york", []string{"new york"}},
	}
	for _, tt := range tests {
		got := w.Lemmas(tt.word)
		for _, l := range tt.want {
			if !slices.Contains(got, l) {
				t.Errorf("Lemmas(%q) = %q, lacks %q", tt.word, got, l)
			}
		}
	}
	for _, unknown := range []string{"qwertyuiop", "iterated loops", "the"} {
		if w.Known(unknown) {
			t.Errorf("Known(%q) = true (lemmas %q)", unknown, w.Lemmas(unknown))
		}
	}
}

func TestPhraseReal(t *testing.T) {
	w := testWordNet(t)
	tests := []struct {
		words  string
		n      int
		wantOK bool
	}{
		{"northern lights are", 2, true},
		{"aurora borealis", 2, true},
		{"heart rate monitor", 2, true},
		{"new york city hall", 3, true},
		{"united states of america", 4, true},
		{"the cat", 0, false},
		{"cat sat", 1, true},
	}
	for _, tt := range tests {
		n, ok := w.Phrase(strings.Fields(tt.words))
		if n != tt.n || ok != tt.wantOK {
			t.Errorf("Phrase(%q) = %d, %v; want %d, %v", tt.words, n, ok, tt.n, tt.wantOK)
		}
	}
}
