package wordnet

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"
)

const (
	// ModelID names the database and this package's conversion of it.
	ModelID = "wordnet-3.1-db3.1.14"
	// FileName is the converted file inside a model directory.
	FileName = "wordnet.bin"
)

// DefaultDir is where the database goes under a semcache data directory:
// <dataDir>/models/wordnet-3.1-db3.1.14.
func DefaultDir(dataDir string) string {
	return filepath.Join(dataDir, "models", ModelID)
}

// File is the converted file in a model directory.
func File(dir string) string {
	return filepath.Join(dir, FileName)
}

// POS is a WordNet part of speech.
type POS uint8

// The parts of speech, in the order senses are stored.
const (
	Noun POS = iota
	Verb
	Adj // adjectives, head and satellite
	Adv
	numPOS
)

func (p POS) String() string {
	switch p {
	case Noun:
		return "noun"
	case Verb:
		return "verb"
	case Adj:
		return "adjective"
	case Adv:
		return "adverb"
	}
	return fmt.Sprintf("POS(%d)", uint8(p))
}

// pointer is a kind of WordNet pointer the file keeps. Lexical pointers
// (between two particular words) are kept between their synsets.
type pointer uint8

// The kept pointers, with their wndb(5WN) symbols. Member, part and
// substance meronyms, domains, attributes and hyponyms are dropped
// (hyponymy is the inverse of the hypernym pointers, which are kept).
const (
	ptrHypernym   pointer = iota + 1 // "@": a kind of
	ptrInstance                      // "@i": an instance of
	ptrAntonym                       // "!": opposite (lexical)
	ptrSimilar                       // "&": adjective satellite ↔ head
	ptrDerivation                    // "+": derivationally related form (lexical)
	ptrPertainym                     // "\": pertains to a noun; adverb derived from an adjective (lexical)
	ptrParticiple                    // "<": participle of a verb (lexical)
	ptrAlsoSee                       // "^": also see
	ptrVerbGroup                     // "$": verb group
	ptrEntailment                    // "*": verb entails
	ptrCause                         // ">": verb causes
	numPointers
)

// pointerSymbols maps wndb pointer symbols to the kept kinds.
var pointerSymbols = map[string]pointer{
	"@": ptrHypernym, "@i": ptrInstance, "!": ptrAntonym, "&": ptrSimilar, "+": ptrDerivation,
	`\`: ptrPertainym, "<": ptrParticiple, "^": ptrAlsoSee, "$": ptrVerbGroup, "*": ptrEntailment, ">": ptrCause,
}

// WordNet is a loaded database. Its methods are safe for concurrent use.
type WordNet struct {
	strings, synsets int
	classEnd         [numClasses]uint32 // synset ids of class c end before classEnd[c]
	mask             uint32
	strOffs          []byte
	entryOffs        []byte
	entries          []byte
	table            []byte
	ptrOffs          []byte
	pointers         []byte
	blob             []byte
	licence          string
}

// Load reads and validates a file written by Pull. It is read whole into
// one heap buffer (memory ≈ file size) and checked (size, checksum,
// ranges, hash table); a damaged file gives an error wrapping ErrFormat.
func Load(path string) (*WordNet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wordnet: %w", err)
	}
	w, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return w, nil
}

// Strings is the number of distinct lemmas and exception forms.
func (w *WordNet) Strings() int { return w.strings }

// Synsets is the number of synsets.
func (w *WordNet) Synsets() int { return w.synsets }

// Licence is the WordNet licence, as the source files state it.
func (w *WordNet) Licence() string { return w.licence }

func (w *WordNet) str(id int) []byte {
	le := binary.LittleEndian
	return w.blob[le.Uint32(w.strOffs[4*id:]):le.Uint32(w.strOffs[4*id+4:])]
}

func (w *WordNet) entryRange(id int) (lo, hi int) {
	le := binary.LittleEndian
	return int(le.Uint32(w.entryOffs[4*id:])), int(le.Uint32(w.entryOffs[4*id+4:]))
}

func (w *WordNet) entry(k int) uint32 { return binary.LittleEndian.Uint32(w.entries[4*k:]) }

func (w *WordNet) pointerRange(syn uint32) (lo, hi int) {
	le := binary.LittleEndian
	return int(le.Uint32(w.ptrOffs[4*syn:])), int(le.Uint32(w.ptrOffs[4*syn+4:]))
}

func (w *WordNet) pointer(k int) (pointer, uint32) {
	p := binary.LittleEndian.Uint32(w.pointers[4*k:])
	return pointer(p >> kindShift), p & idMask
}

// class is the synset's class (noun, verb, adjective head or satellite,
// adverb).
func (w *WordNet) class(syn uint32) int {
	for c, end := range w.classEnd {
		if syn < end {
			return c
		}
	}
	return classAdv // unreachable for a validated id
}

func (w *WordNet) synsetPOS(syn uint32) int {
	switch c := w.class(syn); c {
	case classNoun:
		return int(Noun)
	case classVerb:
		return int(Verb)
	case classAdj, classSat:
		return int(Adj)
	}
	return int(Adv)
}

// senses finds the entries of a string's senses of one part of speech:
// their count and the index of the first.
func (w *WordNet) senses(id uint32, p POS) (n, first int) {
	lo, hi := w.entryRange(int(id))
	first = -1
	for k := lo; k < hi; k++ {
		e := w.entry(k)
		if e&excBit != 0 {
			break
		}
		sp := w.synsetPOS(e & idMask)
		if sp == int(p) {
			if first < 0 {
				first = k
			}
			n++
		} else if sp > int(p) {
			break
		}
	}
	return n, first
}

// lookup finds a string's id, folding ASCII upper case to lower case.
func lookup[S string | []byte](w *WordNet, s S) (uint32, bool) {
	if len(s) == 0 || len(s) > maxStringLen {
		return 0, false
	}
	le := binary.LittleEndian
	i := hashLower(s) & w.mask
	// parse guarantees an empty slot, so the probe ends; the bound is a
	// second guard.
	for range w.mask + 1 {
		e := le.Uint32(w.table[4*i:])
		if e == 0 {
			return 0, false
		}
		if equalLower(s, w.str(int(e-1))) {
			return e - 1, true
		}
		i = (i + 1) & w.mask
	}
	return 0, false
}

// hashLower is FNV-1a (32 bit) of the string with A–Z folded to a–z. The
// converter uses it to build the table, so it is part of the file format.
func hashLower[S string | []byte](s S) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(lower(s[i]))
		h *= 16777619
	}
	return h
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalLower reports whether s, with A–Z folded, equals stored (which is
// lowercase).
func equalLower[S string | []byte](s S, stored []byte) bool {
	if len(s) != len(stored) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lower(s[i]) != stored[i] {
			return false
		}
	}
	return true
}

// unsafeString views b as a string for a lookup that does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
