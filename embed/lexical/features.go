package lexical

import (
	"context"
	"math"
	"math/bits"
)

// feature is one hashed feature occurrence. The low 32 bits of hash pick the
// bucket, the top bit the sign.
type feature struct {
	hash   uint64
	weight float32
}

// Feature-kind seeds keep a word, a bigram and a char n-gram with the same
// bytes from sharing a hash.
const (
	seedUnigram  = 0x9e3779b97f4a7c15
	seedBigram   = 0xc2b2ae3d27d4eb4f
	seedCharGram = 0x165667b19e3779f9
)

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv1a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// mix is the murmur3 64-bit finaliser. FNV-1a alone mixes its high bits
// poorly for short inputs, and the sign comes from the top bit.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// features turns s.toks into s.feats. It reports false when ctx ended.
func (s *scratch) features(ctx context.Context, p *params) bool {
	for i, t := range s.toks {
		if i%checkEvery == checkEvery-1 && ctx.Err() != nil {
			return false
		}
		s.feats = append(s.feats, feature{mix(t.hash ^ seedUnigram), p.unigram * t.weight})
		if i > 0 {
			prev := s.toks[i-1]
			h := mix(bits.RotateLeft64(prev.hash, 29) ^ t.hash*0x9fb21c651e98df25 ^ seedBigram)
			w := p.bigram * float32(math.Sqrt(float64(prev.weight*t.weight)))
			s.feats = append(s.feats, feature{h, w})
		}
		if t.charGrams {
			s.charGrams(s.words[t.rawStart:t.rawEnd], p.charGram*t.weight)
		}
	}
	return true
}

// Marker bytes for word boundaries in char n-grams; they never occur in a
// token, which only holds letters, digits and marks.
const (
	markStart = 0x01
	markEnd   = 0x02
)

// charGrams appends the 3- and 4-grams of "<word>" (with boundary markers).
func (s *scratch) charGrams(word []byte, w float32) {
	// off[k] is the byte offset of rune k; off[n] = len(word).
	off := s.runes[:0]
	for i := range string(word) {
		off = append(off, int32(i))
	}
	off = append(off, int32(len(word)))
	s.runes = off
	n := len(off) - 1 // runes in word
	padded := n + 2
	for g := 3; g <= 4; g++ {
		for start := 0; start+g <= padded; start++ {
			h := uint64(fnvOffset) ^ uint64(g)
			end := start + g // padded positions [start, end)
			lo, hi := start, end
			if start == 0 {
				h = (h ^ markStart) * fnvPrime
				lo = 1
			}
			if end == padded {
				hi = padded - 1
			}
			// Padded position p (1..n) is rune p-1.
			h = fnv1a(h, word[off[lo-1]:off[hi-1]])
			if end == padded {
				h = (h ^ markEnd) * fnvPrime
			}
			s.feats = append(s.feats, feature{mix(h ^ seedCharGram), w})
		}
	}
}

// slot is one entry of the open-addressing table that merges repeated
// features. hash 0 marks an empty slot.
type slot struct {
	hash   uint64
	weight float32
	count  uint32
}

// add adds weight to bucket hash of v and records the bucket the first time
// it is touched, so normalisation only visits non-zero buckets.
func (s *scratch) add(v []float32, hash uint64, weight float32) {
	idx := (uint64(uint32(hash)) * uint64(len(v))) >> 32
	if bit := uint64(1) << (idx & 63); s.seen[idx>>6]&bit == 0 {
		s.seen[idx>>6] |= bit
		s.touched = append(s.touched, int32(idx))
	}
	if hash>>63 == 1 {
		v[idx] -= weight
	} else {
		v[idx] += weight
	}
}

// scatterDamped merges repeated features and adds them to v, replacing the
// summed weight of a feature seen c times by its mean weight × (1 + ln c),
// so a word repeated ten times counts ~3.3×, not 10×.
func (s *scratch) scatterDamped(v []float32) {
	size := 64
	for size < 2*len(s.feats) {
		size <<= 1
	}
	if cap(s.table) < size {
		s.table = make([]slot, size)
	}
	table := s.table[:size]
	clear(table)
	mask := uint64(size - 1)
	for _, f := range s.feats {
		h := f.hash
		if h == 0 {
			h = 1 // 0 marks empty slots; the bucket and sign are unchanged
		}
		for i := (h >> 40) & mask; ; i = (i + 1) & mask {
			sl := &table[i]
			if sl.hash == h {
				sl.weight += f.weight
				sl.count++
				break
			}
			if sl.hash == 0 {
				*sl = slot{hash: h, weight: f.weight, count: 1}
				break
			}
		}
	}
	for _, sl := range table {
		switch {
		case sl.count == 1:
			s.add(v, sl.hash, sl.weight)
		case sl.count > 1:
			c := float32(sl.count)
			s.add(v, sl.hash, sl.weight/c*(1+float32(math.Log(float64(c)))))
		}
	}
}
