package wordnet

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// mirror is the kind Relate(b, a) must give when Relate(a, b) gives k.
func mirror(k Kind) Kind {
	switch k {
	case Hypernym:
		return Hyponym
	case Hyponym:
		return Hypernym
	}
	return k
}

func TestRelateSynthetic(t *testing.T) {
	w := syntheticWordNet(t)
	tests := []struct {
		a, b  string
		kind  Kind
		depth int
	}{
		{"car", "automobile", Same, 0},
		{"Cars", "motorcar", Same, 0},
		{"bacteria", "bacterium", Same, 0},
		{"dogs", "domestic dog", Same, 0},
		{"aurora borealis", "northern lights", Same, 0},
		{"pulse", "heart rate", Same, 0}, // pulse's third sense, rare
		{"mice", "mouse", Same, 0},
		{"increase", "decrease", Antonym, 0},
		{"addition", "lessening", Antonym, 0}, // synonyms share their synset's antonyms
		{"diminish", "increase", Antonym, 0},
		{"hot", "cold", Antonym, 0},
		{"scorching", "cold", Antonym, 0},     // indirect: a satellite takes its head's antonym
		{"scorching", "freezing", Antonym, 0}, // two satellites of opposed heads
		{"hotter", "icy", Antonym, 0},
		{"big", "little", Antonym, 0},
		{"huge", "small", Antonym, 0},
		{"transform", "transformation", Derived, 0},
		{"transformations", "transforms", Derived, 0},
		{"african", "africa", Derived, 0},
		{"quickly", "speedy", Derived, 0},     // adverb pertainym, through the synset
		{"lessening", "diminish", Derived, 0}, // noun and verb, through their synsets
		{"huge", "large", Similar, 0},
		{"hot", "sweltering", Similar, 0},
		{"stop", "cease", Similar, 0}, // verb group
		{"huge", "enormous", Sibling, 1},
		{"puppies", "dogs", Hypernym, 1},
		{"puppy", "canine", Hypernym, 2},
		{"puppy", "carnivore", Hypernym, 3},
		{"egypt", "country", Hypernym, 2}, // instance, then class
		{"dog", "puppy", Hyponym, 1},
		{"animal", "cat", Hyponym, 3},
		{"wednesday", "thursday", Sibling, 1},
		{"Wed", "Th", Sibling, 1},
		{"egypt", "syria", Sibling, 2},
		{"dog", "cat", Sibling, 2},
		{"puppy", "animal", None, 0}, // four steps: beyond MaxDepth
		{"puppy", "cat", None, 0},    // common hypernym three steps above puppy
		{"dog", "hot", None, 0},
		{"traversed", "iterates", None, 0},
		{"qwerty", "dog", None, 0},
		{"dog", "", None, 0},
		{"", "", None, 0},
	}
	for _, tt := range tests {
		r := w.Relate(tt.a, tt.b)
		if r.Kind != tt.kind || r.Depth != tt.depth {
			t.Errorf("Relate(%q, %q) = %v, want %v at depth %d", tt.a, tt.b, r, tt.kind, tt.depth)
		}
		if back := w.Relate(tt.b, tt.a); back.Kind != mirror(tt.kind) || back.Depth != tt.depth {
			t.Errorf("Relate(%q, %q) = %v, want %v at depth %d", tt.b, tt.a, back, mirror(tt.kind), tt.depth)
		}
		if (r.Kind == None) != (r.RankA == 0) || r.Kind != None && r.RankB == 0 {
			t.Errorf("Relate(%q, %q) = %+v: ranks must be set exactly when related", tt.a, tt.b, r)
		}
	}
	if r := w.Relate("pulse", "heart rate"); r.RankA != 3 || r.RankB != 1 || !r.Rare || r.POS != Noun {
		t.Errorf("Relate(pulse, heart rate) = %+v, want pulse's rare sense 3, heart rate's sense 1, nouns", r)
	}
	if r := w.Relate("puppy", "dog"); r.Rare || r.RankA != 1 || r.RankB != 1 {
		t.Errorf("Relate(puppy, dog) = %+v, want first senses, not rare", r)
	}
	if got := w.Relate("pulse", "beat").String(); got != "same (noun, senses 2/1, rare)" {
		t.Errorf("Relate(pulse, beat).String() = %q", got)
	}
	if got := w.Relate("egypt", "syria").String(); got != "sibling (noun, senses 1/1, depth 2)" {
		t.Errorf("Relate(egypt, syria).String() = %q", got)
	}
}

// TestRelateRareAgreementYieldsToConflict checks the one exception to
// "strongest kind wins": a rare sense's agreement must not hide a
// conflict between frequent senses.
func TestRelateRareAgreementYieldsToConflict(t *testing.T) {
	p := func(sym, target string) synPointer { return synPointer{sym, target} }
	src := synWordNet{
		synsets: []synSynset{
			{"person", 'n', []string{"person"}, nil},
			{"monarch", 'n', []string{"monarch"}, []synPointer{p("@", "person")}},
			{"king", 'n', []string{"king"}, []synPointer{p("@", "monarch"), p("!", "queen")}},
			{"queen", 'n', []string{"queen"}, []synPointer{p("@", "monarch"), p("!", "king")}},
			{"star", 'n', []string{"king", "queen", "star"}, nil}, // king 2, queen 2
			{"bird", 'n', []string{"bird"}, nil},
			{"owl", 'n', []string{"owl"}, []synPointer{p("@", "bird")}},
			{"hawk", 'n', []string{"hawk"}, []synPointer{p("@", "bird")}},
			{"owl_person", 'n', []string{"owl", "hawk"}, []synPointer{p("@", "person")}}, // owl 2 (tagged), hawk 2 (rare)
		},
		tagsense: map[string]int{"n/king": 1, "n/queen": 1, "n/hawk": 1},
		exc:      [numPOS][]string{Noun: {"kings king"}},
	}
	data, _, err := convertFiles(src.files())
	if err != nil {
		t.Fatal(err)
	}
	w, err := parse(data)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		a, b string
		want string
	}{
		{"king", "queen", "antonym (noun, senses 1/1)"},           // not same through the rare "star" senses
		{"kings", "queen", "antonym (noun, senses 1/1)"},          // through morphology too
		{"queen", "star", "same (noun, senses 2/1, rare)"},        // no conflict: the rare sense stands
		{"owl", "hawk", "sibling (noun, senses 1/1, depth 1)"},    // not same through hawk's rare sense
		{"owl", "person", "hypernym (noun, senses 2/1, depth 1)"}, // owl's sense 2 is tagged: not rare
		{"hawk", "person", "hypernym (noun, senses 2/1, depth 1, rare)"},
	}
	for _, tt := range tests {
		if got := w.Relate(tt.a, tt.b).String(); got != tt.want {
			t.Errorf("Relate(%q, %q) = %s, want %s", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestRelateDoesNotAllocate(t *testing.T) {
	w := syntheticWordNet(t)
	var sink int
	for _, p := range [][2]string{{"puppies", "dogs"}, {"Heart Rates", "pulse"}, {"scorching", "freezing"}, {"egypt", "syria"}, {"qwerty", "dog"}, {"looking up", "hated"}} {
		if n := testing.AllocsPerRun(100, func() { sink += int(w.Relate(p[0], p[1]).Kind) }); n != 0 {
			t.Errorf("Relate(%q, %q) allocates %v times", p[0], p[1], n)
		}
	}
	words := []string{"heart", "rates", "rise"}
	if n := testing.AllocsPerRun(100, func() { k, _ := w.Phrase(words); sink += k }); n != 0 {
		t.Errorf("Phrase allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if w.Known("transformations") {
			sink++
		}
	}); n != 0 {
		t.Errorf("Known allocates %v times", n)
	}
	_ = sink
}

func TestRelateConcurrent(t *testing.T) {
	w := syntheticWordNet(t)
	words := []string{"dog", "puppies", "cat", "hot", "scorching", "freezing", "egypt", "syria", "pulse", "heart rate", "transforms", "transformation", "nope"}
	want := map[[2]string]Relation{}
	for _, a := range words {
		for _, b := range words {
			want[[2]string{a, b}] = w.Relate(a, b)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 3000 {
				a, b := words[(i+g)%len(words)], words[(i*7+g)%len(words)]
				if r := w.Relate(strings.ToUpper(a), b); r != want[[2]string{a, b}] {
					errs <- fmt.Sprintf("Relate(%s, %s) = %v, want %v", a, b, r, want[[2]string{a, b}])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// The tests below need the real database (.ci/wordnet.sh).

// realPairs are what WordNet 3.1 says about pairs of the kind the
// verifier meets; each was checked against the data files. Depth is
// checked for Hypernym, Hyponym and Sibling.
var realPairs = []struct {
	a, b  string
	kind  Kind
	depth int
}{
	{"car", "automobile", Same, 0},
	{"bacteria", "bacterium", Same, 0},
	{"pulse", "heart rate", Same, 0},
	{"aurora borealis", "northern lights", Same, 0},
	{"cheap", "inexpensive", Same, 0},
	{"fastest", "fast", Same, 0},
	{"buy", "purchase", Same, 0},
	{"big", "large", Same, 0},
	{"mice", "mouse", Same, 0},
	{"ran", "run", Same, 0},
	{"sofa", "couch", Same, 0},
	{"physician", "doctor", Same, 0},
	{"begin", "start", Same, 0},
	{"kilometres", "kilometers", Same, 0},
	{"shut", "close", Same, 0},
	{"error", "mistake", Same, 0},
	{"fix", "repair", Same, 0},
	{"increase", "decrease", Antonym, 0},
	{"open", "close", Antonym, 0},
	{"symmetric", "asymmetric", Antonym, 0},
	{"start", "stop", Antonym, 0},
	{"good", "bad", Antonym, 0},
	{"hot", "cold", Antonym, 0},
	{"scorching", "cold", Antonym, 0},
	{"buy", "sell", Antonym, 0},
	{"better", "worse", Antonym, 0},
	{"maximum", "minimum", Antonym, 0},
	{"presence", "absence", Antonym, 0},
	{"king", "queen", Antonym, 0},
	{"north", "south", Antonym, 0},
	{"true", "false", Antonym, 0},
	{"upload", "download", Antonym, 0},
	{"push", "pull", Antonym, 0},
	{"largest", "smallest", Antonym, 0},
	{"transformations", "transforms", Derived, 0},
	{"transform", "transformation", Derived, 0},
	{"africa", "african", Derived, 0},
	{"decide", "decision", Derived, 0},
	{"explain", "explanation", Derived, 0},
	{"huge", "large", Similar, 0},
	{"scorching", "hot", Similar, 0},
	{"small", "tiny", Similar, 0},
	{"puppies", "dogs", Hypernym, 1},
	{"liner", "ship", Hypernym, 2},
	{"egypt", "country", Hypernym, 2},
	{"sparrow", "bird", Hypernym, 2},
	{"oak", "tree", Hypernym, 1},
	{"python", "snake", Hypernym, 3},
	{"delete", "remove", Hypernym, 1},
	{"buy", "acquire", Hypernym, 1},
	{"dog", "puppy", Hyponym, 1},
	{"vehicle", "car", Hyponym, 2},
	{"fruit", "apple", Hyponym, 2},
	{"goal", "purpose", Hyponym, 1},
	{"wednesday", "thursday", Sibling, 1},
	{"egypt", "syria", Sibling, 2},
	{"iron", "calcium", Sibling, 1},
	{"monday", "friday", Sibling, 1},
	{"cat", "dog", Sibling, 2},
	{"apple", "pear", Sibling, 1},
	{"violin", "cello", Sibling, 1},
	{"paris", "london", Sibling, 1},
	{"france", "germany", Sibling, 1},
	{"kilometres", "miles", Sibling, 2},
	{"red", "blue", Sibling, 1},
	{"eat", "drink", Sibling, 1},
	{"goal", "banana", None, 0},
	{"traversed", "iterates", None, 0},
	{"cancel", "stop", None, 0},
	{"verify", "sign", None, 0},
	{"python", "java", None, 0},
	{"monday", "week", None, 0},
	{"teacher", "student", None, 0},
	{"qwertyuiop", "dog", None, 0},
}

func TestRelateReal(t *testing.T) {
	w := testWordNet(t)
	counts := map[Kind]int{}
	for _, tt := range realPairs {
		r := w.Relate(tt.a, tt.b)
		counts[tt.kind]++
		depth := r.Depth
		if tt.kind != Hypernym && tt.kind != Hyponym && tt.kind != Sibling {
			depth = 0
		}
		if r.Kind != tt.kind || depth != tt.depth {
			t.Errorf("Relate(%q, %q) = %v, want %v (depth %d)", tt.a, tt.b, r, tt.kind, tt.depth)
		}
		if back := w.Relate(tt.b, tt.a); back.Kind != mirror(tt.kind) {
			t.Errorf("Relate(%q, %q) = %v, want %v", tt.b, tt.a, back, mirror(tt.kind))
		}
	}
	for k := None; k <= Same; k++ {
		if counts[k] < 3 {
			t.Errorf("only %d pairs of kind %v", counts[k], k)
		}
	}
}

// TestExamples logs what Relate says about the verifier's motivating
// pairs (the integrator's reference); it checks only that every word is
// known.
func TestExamples(t *testing.T) {
	w := testWordNet(t)
	for _, p := range examplePairs {
		for _, x := range p {
			if !w.Known(x) {
				t.Errorf("%q is unknown", x)
			}
		}
		t.Logf("%-18s %-18s %v", p[0], p[1], w.Relate(p[0], p[1]))
	}
}

var examplePairs = [][2]string{
	{"goal", "purpose"}, {"transformations", "transforms"}, {"traversed", "iterates"}, {"bacteria", "bacterium"},
	{"pulse", "heart rate"}, {"aurora borealis", "northern lights"}, {"cancel", "stop"}, {"puppies", "dogs"},
	{"liner", "ship"}, {"wednesday", "thursday"}, {"egypt", "syria"}, {"python", "ruby"}, {"python", "java"},
	{"increase", "decrease"}, {"open", "close"}, {"symmetric", "asymmetric"}, {"start", "stop"}, {"good", "bad"},
	{"fastest", "fast"}, {"video", "call"}, {"cheap", "inexpensive"}, {"car", "automobile"}, {"verify", "sign"},
	{"heal", "ice"}, {"remove", "cause"}, {"find", "remove"}, {"iron", "calcium"}, {"kilometres", "miles"},
	{"celsius", "fahrenheit"}, {"monday", "week"},
}

func TestRealSanity(t *testing.T) {
	w := testWordNet(t)
	if w.Synsets() != 117791 || w.Strings() < 150000 {
		t.Errorf("%d synsets, %d strings; want WordNet 3.1's 117,791 synsets and ~151k strings", w.Synsets(), w.Strings())
	}
	if !strings.Contains(w.Licence(), "WordNet 3.1 Copyright 2011 by Princeton University") {
		t.Errorf("licence = %q", w.Licence())
	}
}
