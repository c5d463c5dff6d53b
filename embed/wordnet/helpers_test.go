package wordnet

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// testDir returns the directory of the real database: $SEMCACHE_WORDNET_DIR,
// else ~/.cache/semcache/models/wordnet-3.1-db3.1.14 (where .ci/wordnet.sh
// puts it). Without it the test is skipped, except under CI, where it
// fails: CI must never skip the real-data tests silently.
func testDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("SEMCACHE_WORDNET_DIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			tb.Fatalf("no SEMCACHE_WORDNET_DIR and no home directory: %v", err)
		}
		dir = DefaultDir(filepath.Join(home, ".cache", "semcache"))
	}
	if _, err := Load(File(dir)); err != nil {
		msg := "WordNet not available (run .ci/wordnet.sh or set SEMCACHE_WORDNET_DIR): " + err.Error()
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return dir
}

var shared = struct {
	once sync.Once
	w    *WordNet
	err  error
}{}

// testWordNet loads the real database once per test binary.
func testWordNet(tb testing.TB) *WordNet {
	tb.Helper()
	dir := testDir(tb)
	shared.once.Do(func() { shared.w, shared.err = Load(File(dir)) })
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.w
}

// synSynset is one synset of a synthetic WordNet. Pointers name their
// targets by key.
type synSynset struct {
	key   string
	ss    byte     // n, v, a, s, r
	words []string // as in the data files ("Wednesday", "heart_rate")
	ptrs  []synPointer
}

type synPointer struct{ sym, target string }

// synWordNet is a synthetic WordNet source: synsets in sense order (a
// lemma's senses are its synsets in list order), tagsense_cnt overrides
// (default: every sense tagged) and exception lines per part of speech.
type synWordNet struct {
	synsets  []synSynset
	tagsense map[string]int // "pos/lemma" → tagsense_cnt
	exc      [numPOS][]string
}

const synLicence = "This software and database is being provided to you, the LICENSEE, by\nPrinceton University under the following license.\n\nWordNet 3.1 Copyright 2011 by Princeton University.  All rights reserved."

// synthetic is a small WordNet with one case of every relation Relate
// reports.
func synthetic() synWordNet {
	p := func(sym, target string) synPointer { return synPointer{sym, target} }
	return synWordNet{
		synsets: []synSynset{
			{"entity", 'n', []string{"entity"}, nil},
			{"animal", 'n', []string{"animal", "beast"}, []synPointer{p("@", "entity")}},
			{"carnivore", 'n', []string{"carnivore"}, []synPointer{p("@", "animal")}},
			{"canine", 'n', []string{"canine"}, []synPointer{p("@", "carnivore")}},
			{"dog", 'n', []string{"dog", "domestic_dog"}, []synPointer{p("@", "canine"), p("~", "puppy"), p("#m", "canine")}},
			{"puppy", 'n', []string{"puppy"}, []synPointer{p("@", "dog")}},
			{"feline", 'n', []string{"feline"}, []synPointer{p("@", "carnivore")}},
			{"cat", 'n', []string{"cat"}, []synPointer{p("@", "feline")}},
			{"mouse", 'n', []string{"mouse"}, []synPointer{p("@", "animal")}},
			{"car", 'n', []string{"car", "automobile", "motorcar"}, []synPointer{p("@", "entity")}},
			{"bacterium", 'n', []string{"bacteria", "bacterium"}, []synPointer{p("@", "entity")}},
			{"weekday", 'n', []string{"weekday"}, []synPointer{p("@", "entity")}},
			{"wednesday", 'n', []string{"Wednesday", "Wed"}, []synPointer{p("@", "weekday")}},
			{"thursday", 'n', []string{"Thursday", "Th"}, []synPointer{p("@", "weekday")}},
			{"country", 'n', []string{"country", "state"}, []synPointer{p("@", "entity")}},
			{"african_country", 'n', []string{"African_country"}, []synPointer{p("@", "country")}},
			{"asian_country", 'n', []string{"Asian_country"}, []synPointer{p("@", "country")}},
			{"egypt", 'n', []string{"Egypt"}, []synPointer{p("@i", "african_country")}},
			{"syria", 'n', []string{"Syria"}, []synPointer{p("@i", "asian_country")}},
			{"africa", 'n', []string{"Africa"}, []synPointer{p("@", "entity"), p("-r", "african")}},
			{"increase_n", 'n', []string{"increase", "addition"}, []synPointer{p("!", "decrease_n"), p("+", "increase_v")}},
			{"decrease_n", 'n', []string{"decrease", "lessening"}, []synPointer{p("!", "increase_n"), p("+", "decrease_v")}},
			{"transformation", 'n', []string{"transformation"}, []synPointer{p("@", "entity"), p("+", "transform")}},
			// No hypernyms: pulse's frequent first sense must not be a
			// sibling of the heart rate (see TestRelateRareAgreementYieldsToConflict).
			{"pulse_electronic", 'n', []string{"pulse"}, nil},
			{"pulse_beat", 'n', []string{"pulse", "beat"}, nil},
			{"heart_rate", 'n', []string{"heart_rate", "pulse", "pulse_rate"}, nil},
			{"aurora", 'n', []string{"aurora_borealis", "northern_lights"}, []synPointer{p("@", "entity")}},
			{"box", 'n', []string{"box"}, []synPointer{p("@", "entity")}},
			{"boxful", 'n', []string{"boxful"}, []synPointer{p("@", "box")}},
			{"glass", 'n', []string{"glass"}, []synPointer{p("@", "entity")}},
			{"glas", 'n', []string{"glas"}, []synPointer{p("@", "entity")}},
			{"a", 'n', []string{"a", "angstrom"}, []synPointer{p("@", "entity")}},

			{"increase_v", 'v', []string{"increase"}, []synPointer{p("!", "decrease_v"), p("+", "increase_n")}},
			{"decrease_v", 'v', []string{"decrease", "diminish"}, []synPointer{p("!", "increase_v"), p("+", "decrease_n")}},
			{"transform", 'v', []string{"transform"}, []synPointer{p("+", "transformation")}},
			{"run", 'v', []string{"run"}, nil},
			{"iterate", 'v', []string{"iterate", "repeat"}, nil},
			{"traverse", 'v', []string{"traverse", "cross"}, nil},
			{"stop", 'v', []string{"stop", "halt"}, []synPointer{p("$", "cease")}},
			{"cease", 'v', []string{"cease"}, []synPointer{p("$", "stop")}},
			{"look_up", 'v', []string{"look_up"}, nil},
			{"look", 'v', []string{"look"}, nil},
			{"hat", 'v', []string{"hat"}, nil},
			{"hate", 'v', []string{"hate", "detest"}, nil},

			{"hot", 'a', []string{"hot"}, []synPointer{p("!", "cold"), p("&", "scorching")}},
			{"scorching", 's', []string{"scorching", "sweltering"}, []synPointer{p("&", "hot")}},
			{"cold", 'a', []string{"cold"}, []synPointer{p("!", "hot"), p("&", "freezing")}},
			{"freezing", 's', []string{"freezing", "icy"}, []synPointer{p("&", "cold")}},
			{"large", 'a', []string{"large", "big"}, []synPointer{p("!", "small"), p("&", "huge"), p("&", "enormous")}},
			{"huge", 's', []string{"huge", "immense"}, []synPointer{p("&", "large")}},
			{"enormous", 's', []string{"enormous", "tremendous"}, []synPointer{p("&", "large")}},
			{"small", 'a', []string{"small", "little"}, []synPointer{p("!", "large")}},
			{"good", 'a', []string{"good"}, nil},
			{"african", 'a', []string{"African(a)"}, []synPointer{p(`\`, "africa")}},
			{"quick", 'a', []string{"quick", "speedy"}, nil},

			{"quickly", 'r', []string{"quickly"}, []synPointer{p(`\`, "quick")}},
			{"well", 'r', []string{"well"}, nil},
		},
		tagsense: map[string]int{"n/pulse": 1},
		exc: [numPOS][]string{
			Noun: {"mice mouse", "bacteria bacterium", "oxen ox"},
			Verb: {"ran run", "looked_up look_up"},
			Adj:  {"better good well", "hotter hot"},
			Adv:  {"best well"},
		},
	}
}

var posLetters = [numPOS]string{Noun: "n", Verb: "v", Adj: "a", Adv: "r"}

func ssPOS(ss byte) POS {
	switch ss {
	case 'n':
		return Noun
	case 'v':
		return Verb
	case 'a', 's':
		return Adj
	}
	return Adv
}

// files renders the synthetic WordNet as the source files, keyed by the
// names sourceFile.name gives.
func (s synWordNet) files() map[string][]byte {
	header := ""
	for i, l := range strings.Split(synLicence, "\n") {
		header += fmt.Sprintf("  %d %s  \n", i+1, l)
	}
	// Offsets: every data line's length is independent of the offsets
	// (they are fixed width), so render once with zeros to place them.
	offset := map[string]int{}
	line := func(ss synSynset) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%08d 03 %c %02x ", offset[ss.key], ss.ss, len(ss.words))
		for _, w := range ss.words {
			fmt.Fprintf(&b, "%s 0 ", w)
		}
		fmt.Fprintf(&b, "%03d ", len(ss.ptrs))
		for _, p := range ss.ptrs {
			var target synSynset
			for _, t := range s.synsets {
				if t.key == p.target {
					target = t
				}
			}
			if target.key == "" {
				panic("synthetic: no synset " + p.target)
			}
			fmt.Fprintf(&b, "%s %08d %c 0000 ", p.sym, offset[target.key], target.ss)
		}
		if ss.ss == 'v' {
			b.WriteString("01 + 02 00 ")
		}
		b.WriteString("| a gloss; \"an example\"  \n")
		return b.String()
	}
	pos := [numPOS]int{}
	for p := range numPOS {
		pos[p] = len(header)
	}
	for _, ss := range s.synsets {
		p := ssPOS(ss.ss)
		offset[ss.key] = pos[p]
		pos[p] += len(line(ss))
	}
	out := map[string][]byte{}
	var data [numPOS]strings.Builder
	type lemmaSenses struct {
		offsets []int
	}
	var index [numPOS]map[string]*lemmaSenses
	for p := range numPOS {
		data[p].WriteString(header)
		index[p] = map[string]*lemmaSenses{}
	}
	for _, ss := range s.synsets {
		p := ssPOS(ss.ss)
		data[p].WriteString(line(ss))
		for _, w := range ss.words {
			lemma := strings.ToLower(w)
			if i := strings.IndexByte(lemma, '('); i > 0 {
				lemma = lemma[:i] // adjective markers: "African(a)"
			}
			if index[p][lemma] == nil {
				index[p][lemma] = &lemmaSenses{}
			}
			index[p][lemma].offsets = append(index[p][lemma].offsets, offset[ss.key])
		}
	}
	for p := range numPOS {
		out[sourceFile{'d', p}.name()] = []byte(data[p].String())
		var b strings.Builder
		b.WriteString(header)
		lemmas := make([]string, 0, len(index[p]))
		for l := range index[p] {
			lemmas = append(lemmas, l)
		}
		slices.Sort(lemmas)
		for _, l := range lemmas {
			ls := index[p][l]
			tagged, ok := s.tagsense[posLetters[p]+"/"+l]
			if !ok {
				tagged = len(ls.offsets)
			}
			fmt.Fprintf(&b, "%s %s %d 1 @ %d %d", l, posLetters[p], len(ls.offsets), len(ls.offsets), tagged)
			for _, o := range ls.offsets {
				fmt.Fprintf(&b, " %08d", o)
			}
			b.WriteString("  \n")
		}
		out[sourceFile{'i', p}.name()] = []byte(b.String())
		out[sourceFile{'e', p}.name()] = []byte(strings.Join(s.exc[p], "\n") + "\n")
	}
	return out
}

// convertFiles converts source files held in memory.
func convertFiles(files map[string][]byte) ([]byte, convStats, error) {
	c := newConverter()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		f, ok := sourceFileNamed(name)
		if !ok {
			return nil, convStats{}, fmt.Errorf("test: unknown source file %s", name)
		}
		if err := c.add(f, bytes.NewReader(files[name])); err != nil {
			return nil, convStats{}, err
		}
	}
	var out bytes.Buffer
	st, err := c.write(&out)
	return out.Bytes(), st, err
}

func sourceFileNamed(name string) (sourceFile, bool) {
	for _, k := range []byte{'d', 'i', 'e'} {
		for p := range numPOS {
			if f := (sourceFile{k, p}); f.name() == name {
				return f, true
			}
		}
	}
	return sourceFile{}, false
}

// syntheticFile converts the synthetic WordNet.
func syntheticFile(tb testing.TB) []byte {
	tb.Helper()
	data, _, err := convertFiles(synthetic().files())
	if err != nil {
		tb.Fatalf("converting the synthetic WordNet: %v", err)
	}
	return data
}

func syntheticWordNet(tb testing.TB) *WordNet {
	tb.Helper()
	w, err := parse(syntheticFile(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

type tarFile struct {
	name string
	body []byte
}

func tarball(tb testing.TB, files ...tarFile) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// hasAnySense reports whether the string has a sense of any part of
// speech.
func (w *WordNet) hasAnySense(id uint32) bool {
	for p := range numPOS {
		if w.hasSenses(id, p) {
			return true
		}
	}
	return false
}
