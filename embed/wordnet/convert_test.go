package wordnet

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestConvertSynthetic(t *testing.T) {
	data, st, err := convertFiles(synthetic().files())
	if err != nil {
		t.Fatal(err)
	}
	w, err := parse(data)
	if err != nil {
		t.Fatalf("parse the converted file: %v", err)
	}
	src := synthetic()
	var classes [numClasses]int
	for _, s := range src.synsets {
		classes[map[byte]int{'n': classNoun, 'v': classVerb, 'a': classAdj, 's': classSat, 'r': classAdv}[s.ss]]++
	}
	if st.Synsets != classes || w.Synsets() != len(src.synsets) {
		t.Errorf("synsets per class = %v (file %d), want %v (%d)", st.Synsets, w.Synsets(), classes, len(src.synsets))
	}
	// "#m" (member meronym) and "-r" (domain) are dropped; the rest kept.
	if st.Pointers[ptrHypernym] == 0 || st.Pointers[ptrInstance] != 2 || st.Pointers[ptrAntonym] != 8 || st.Pointers[ptrVerbGroup] != 2 ||
		st.Pointers[ptrPertainym] != 2 || st.Pointers[ptrSimilar] != 8 {
		t.Errorf("pointers by kind = %v", st.Pointers)
	}
	// Exceptions: "bacteria bacterium" is kept (bacteria is also a
	// lemma), "oxen ox" is dropped (no lemma "ox"), "better good well"
	// keeps good (an adjective) and drops well (an adverb only).
	if st.Exceptions != 7 || st.ExcDropped != 2 {
		t.Errorf("exceptions kept %d, dropped %d; want 7, 2", st.Exceptions, st.ExcDropped)
	}
	if st.Bytes != int64(len(data)) || !strings.Contains(st.String(), "synsets") {
		t.Errorf("stats = %+v for %d bytes", st, len(data))
	}
	if !strings.HasPrefix(w.Licence(), "This software and database") || !strings.Contains(w.Licence(), "WordNet 3.1 Copyright 2011") ||
		strings.Contains(w.Licence(), "  1 ") {
		t.Errorf("licence = %q", w.Licence())
	}
	// Lemmas are lower case with spaces; senses keep their order, ranks
	// and rare flags.
	for _, tt := range []struct {
		word  string
		pos   POS
		ranks []bool // rare flag per sense
	}{
		{"pulse", Noun, []bool{false, true, true}},
		{"heart rate", Noun, []bool{false}},
		{"wednesday", Noun, []bool{false}},
		{"african", Adj, []bool{false}},
		{"increase", Verb, []bool{false}},
		{"increase", Noun, []bool{false}},
	} {
		id, ok := lookup(w, tt.word)
		if !ok {
			t.Errorf("%q not stored", tt.word)
			continue
		}
		n, first := w.senses(id, tt.pos)
		var rare []bool
		for k := range n {
			rare = append(rare, w.entry(first+k)&rareBit != 0)
		}
		if len(rare) != len(tt.ranks) {
			t.Errorf("%q %s: %d senses, want %d", tt.word, tt.pos, n, len(tt.ranks))
			continue
		}
		for k := range rare {
			if rare[k] != tt.ranks[k] {
				t.Errorf("%q %s sense %d rare = %v, want %v", tt.word, tt.pos, k+1, rare[k], tt.ranks[k])
			}
		}
	}
	for _, missing := range []string{"heart_rate", "African(a)", "Wednesday ", "ox"} {
		if id, ok := lookup(w, missing); ok {
			t.Errorf("%q stored as string %d", missing, id)
		}
	}
	// The pulse synsets are in sense order: sense 3 is the heart rate.
	pulse, _ := lookup(w, "pulse")
	hr, _ := lookup(w, "heart rate")
	_, pf := w.senses(pulse, Noun)
	_, hf := w.senses(hr, Noun)
	if w.entry(pf+2)&idMask != w.entry(hf)&idMask {
		t.Error("pulse's third sense is not the heart rate synset")
	}
}

func TestConvertRejects(t *testing.T) {
	good := synthetic().files()
	edit := func(name, old, new string) map[string][]byte {
		files := map[string][]byte{}
		for k, v := range good {
			files[k] = v
		}
		if !bytes.Contains(files[name], []byte(old)) {
			t.Fatalf("%s lacks %q", name, old)
		}
		files[name] = bytes.Replace(files[name], []byte(old), []byte(new), 1)
		return files
	}
	without := func(name string) map[string][]byte {
		files := map[string][]byte{}
		for k, v := range good {
			if k != name {
				files[k] = v
			}
		}
		return files
	}
	firstLine := func(name string) string {
		for _, l := range strings.Split(string(good[name]), "\n") {
			if l != "" && l[0] != ' ' {
				return l
			}
		}
		t.Fatalf("%s has no entries", name)
		return ""
	}
	noun := firstLine("data.noun")
	tests := []struct {
		name    string
		files   map[string][]byte
		wantErr string
	}{
		{"missing data file", without("data.verb"), "lacks data.verb"},
		{"missing exceptions", without("adv.exc"), "lacks adv.exc"},
		{"offset not at its byte", edit("data.noun", noun, "0"+noun[1:7]+"1"+noun[8:]), "but the line starts at byte"},
		{"wrong ss_type", edit("data.noun", noun, noun[:12]+"v"+noun[13:]), `ss_type "v" in data.noun`},
		{"satellite outside adjectives", edit("data.verb", " v 01 run", " s 01 run"), `ss_type "s"`},
		{"bad word count", edit("data.noun", noun, noun[:14]+"zz"+noun[16:]), "w_cnt"},
		{"dangling pointer", edit("data.noun", " @ 000", " @ 999"), "does not exist"},
		{"bad pointer pos", edit("data.noun", " n 0000 ", " x 0000 "), "pointer part of speech"},
		{"bad source/target", edit("data.noun", " n 0000 ", " n 00z0 "), "source/target"},
		{"missing gloss", edit("data.noun", "| a gloss", "a gloss"), `want "|"`},
		{"bad verb frame", edit("data.verb", "01 + 02 00", "01 x 02 00"), "verb frame"},
		{"truncated line", edit("data.noun", noun, noun[:20]), "line ends before"},
		{"CR line ends", edit("data.noun", "  \n", "  \r\n"), "CR"},
		{"index names a missing synset", edit("index.noun", "animal n 1 1 @ 1 1 ", "animal n 1 1 @ 1 1 9"), "does not exist"},
		{"index count mismatch", edit("index.noun", "animal n 1 1 @ 1 1", "animal n 2 1 @ 2 1"), "line ends before"},
		{"sense_cnt differs", edit("index.noun", "animal n 1 1 @ 1 1", "animal n 1 1 @ 2 1"), "sense_cnt 2, synset_cnt 1"},
		{"extra index fields", edit("index.noun", "animal n 1 1 @ 1 1 ", "animal n 1 1 @ 1 1 00000000 "), "fields after"},
		{"index of another pos", edit("index.noun", "animal n 1", "animal v 1"), `part of speech "v" in index.noun`},
		{"duplicate lemma", edit("index.noun", "animal n", "beast n"), "twice"},
		{"bad lemma", edit("index.noun", "animal n", "_animal n"), "lemma"},
		{"exception without base", edit("noun.exc", "mice mouse", "mice"), "want an inflected form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := convertFiles(tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("convert error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	c := newConverter()
	if err := c.add(sourceFile{'e', Noun}, strings.NewReader("a b\n")); err != nil {
		t.Fatal(err)
	}
	if err := c.add(sourceFile{'e', Noun}, strings.NewReader("a b\n")); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("reading noun.exc twice = %v, want an error", err)
	}
	if _, err := c.write(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "lacks data.noun") {
		t.Errorf("write with missing files = %v", err)
	}
	if err := newConverter().add(sourceFile{'d', Noun}, strings.NewReader(strings.Repeat("x", maxLineLen+1))); !errors.Is(err, bufio.ErrTooLong) {
		t.Errorf("an over-long line = %v, want %v", err, bufio.ErrTooLong)
	}
}

// FuzzConvert replaces one source file of the synthetic WordNet with the
// fuzzer's bytes: conversion may fail but must not panic, and what it
// writes must load.
func FuzzConvert(f *testing.F) {
	good := synthetic().files()
	names := []string{"data.noun", "index.noun", "data.adj", "verb.exc", "data.verb"}
	for i, n := range names {
		f.Add(uint8(i), good[n])
		f.Add(uint8(i), good[n][:len(good[n])/2])
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		files := map[string][]byte{}
		for k, v := range good {
			files[k] = v
		}
		files[names[int(which)%len(names)]] = body
		data, st, err := convertFiles(files)
		if err != nil {
			return
		}
		w, err := parse(data)
		if err != nil {
			t.Fatalf("convert succeeded but its file does not parse: %v", err)
		}
		if int64(len(data)) != st.Bytes || w.Strings() != st.Strings {
			t.Fatalf("stats %+v disagree with the file (%d bytes, %d strings)", st, len(data), w.Strings())
		}
		w.Relate("dog", "puppy")
	})
}
