package wordnet

import (
	"fmt"
	"sync"
)

// Kind is how two words relate in WordNet. Larger is stronger: Relate
// returns the strongest kind any pair of their senses has (with one
// exception for rare senses, see Relate).
type Kind uint8

const (
	// None: WordNet relates no pair of their senses in the ways below
	// (or a word is unknown).
	None Kind = iota
	// Sibling: different synsets with a common hypernym within
	// SiblingDepth steps of both: co-hyponyms ("wednesday"/"thursday")
	// and, at depth 2, cousins ("egypt"/"syria": an African and an Asian
	// country). Instances count through their class. Two adjective
	// satellites of one head are siblings too ("red"/"blue", both
	// similar to "chromatic"; but also "huge"/"enormous", both similar
	// to "large"). Things of the same kind that must not be confused.
	Sibling
	// Hyponym: b is a kind (or instance) of a, within MaxDepth
	// hypernym steps ("dog"/"puppy").
	Hyponym
	// Hypernym: a is a kind (or instance) of b ("puppy"/"dog",
	// "liner"/"ship").
	Hypernym
	// Similar: an adjective satellite and its cluster's head
	// ("huge"/"large", "scorching"/"hot"), or verb senses WordNet puts
	// in one verb group. Close in meaning, not the same.
	Similar
	// Derived: a derivationally related form, pertainym or participle
	// links a sense of one to a sense of the other
	// ("transform"/"transformation", "africa"/"african",
	// "quick"/"quickly").
	Derived
	// Antonym: opposites ("increase"/"decrease", "hot"/"cold"). See
	// Relate for the rule.
	Antonym
	// Same: the words share a synset ("car"/"automobile",
	// "bacteria"/"bacterium").
	Same
)

func (k Kind) String() string {
	switch k {
	case None:
		return "none"
	case Sibling:
		return "sibling"
	case Hyponym:
		return "hyponym"
	case Hypernym:
		return "hypernym"
	case Similar:
		return "similar"
	case Derived:
		return "derived"
	case Antonym:
		return "antonym"
	case Same:
		return "same"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Relation is what Relate found.
type Relation struct {
	Kind Kind
	// Depth is the number of hypernym steps for Hypernym and Hyponym
	// (1..MaxDepth) and, for Sibling, the larger of the two words'
	// distances to their common hypernym (1 for co-hyponyms,
	// 2 for cousins); 0 otherwise.
	Depth int
	// POS is the part of speech of a's sense in the matched pair.
	POS POS
	// RankA and RankB are the sense numbers (1 = most frequent; WordNet
	// orders senses by their frequency in a tagged corpus) of the pair
	// that matched, among its lemma's senses of that part of speech; 0
	// for None.
	RankA, RankB int
	// Rare is set when the relation needs a rare sense: one that is not
	// its lemma's first and was never seen in WordNet's tagged corpus
	// (beyond the lemma's tagsense_cnt): "pulse"/"heart rate" (pulse's
	// third sense), "liner"/"ship" (liner's fourth). Such matches
	// deserve less trust.
	Rare bool
}

func (r Relation) String() string {
	if r.Kind == None {
		return "none"
	}
	s := fmt.Sprintf("%s (%s, senses %d/%d", r.Kind, r.POS, r.RankA, r.RankB)
	if r.Depth > 0 {
		s += fmt.Sprintf(", depth %d", r.Depth)
	}
	if r.Rare {
		s += ", rare"
	}
	return s + ")"
}

// Bounds of one Relate call; they keep it to a few microseconds.
const (
	// MaxSenses is how many senses (most frequent first) of each lemma
	// and part of speech Relate considers.
	MaxSenses = 8
	// MaxDepth is how many hypernym steps Hypernym and Hyponym follow.
	MaxDepth = 3
	// SiblingDepth is how far up both words may go to a common
	// hypernym for Sibling.
	SiblingDepth = 2

	maxSide      = 48   // senses of one word, over all parts of speech and lemmas
	maxAncestors = 256  // hypernyms of one word's senses, up to MaxDepth steps
	maxLinks     = 1024 // antonym, derivation and verb group targets of one word's senses
	maxHeads     = 2    // heads of one adjective satellite's cluster (WordNet has one)
)

type sense struct {
	syn    uint32
	rank   uint8 // 1-based
	pos    POS
	rare   bool
	sat    bool // an adjective satellite
	nh     uint8
	heads  [maxHeads]uint32 // a satellite's heads; the synset itself otherwise
	lo, hi uint16           // its links: side.links[lo:hi]
	mask   uint64           // bit(t) of each link target t: most pairs need no scan
	self   uint64           // bit of its synset and of its cluster's heads
}

// bit is a synset's bit in a sense's link mask.
func bit(syn uint32) uint64 { return 1 << (syn * 0x9E3779B1 >> 26) }

// mayLink reports whether s may have a link to other's synset or
// cluster (false means it surely has none).
func (s *sense) mayLink(other *sense) bool { return s.mask&other.self != 0 }

// cluster is the synset itself, or a satellite's heads.
func (s *sense) cluster() []uint32 { return s.heads[:s.nh] }

type linkKind uint8

const (
	linkAntonym linkKind = iota // direct, or a satellite's head's
	linkDerived                 // derivation, pertainym, participle
	linkGroup                   // verb group
)

type link struct {
	syn  uint32
	kind linkKind
}

type ancestor struct {
	syn   uint32
	depth uint8
	from  uint8 // index of the sense it is an ancestor of
}

// side is one word of a Relate call: its senses, their links and their
// ancestors.
type side struct {
	n, nl, na int
	s         [maxSide]sense
	links     [maxLinks]link
	anc       [maxAncestors]ancestor
}

// gather collects the senses of word's lemmas over all parts of speech,
// with their links.
func (w *WordNet) gather(word string, sd *side) {
	sd.n, sd.nl, sd.na = 0, 0, 0
	var ls lemmaSet
	for p := range numPOS {
		w.morph(word, p, &ls)
		for _, id := range ls.ids[:ls.n] {
			n, first := w.senses(id, p)
			for r := range min(n, MaxSenses) {
				e := w.entry(first + r)
				sd.add(sense{syn: e & idMask, rank: uint8(r + 1), pos: p, rare: e&rareBit != 0})
			}
		}
	}
	for i := range sd.s[:sd.n] {
		w.links(sd, &sd.s[i])
	}
}

func (sd *side) add(s sense) {
	for i := range sd.s[:sd.n] {
		if sd.s[i].syn == s.syn { // a synset reached through two lemmas
			if s.rank < sd.s[i].rank {
				sd.s[i] = s
			}
			return
		}
	}
	if sd.n < maxSide {
		sd.s[sd.n] = s
		sd.n++
	}
}

// links reads a sense's pointers once: its cluster heads and its
// antonym, derivation and verb group targets (with, for a satellite, its
// heads' antonyms).
func (w *WordNet) links(sd *side, s *sense) {
	s.sat = w.class(s.syn) == classSat
	s.nh, s.mask = 0, 0
	s.lo = uint16(sd.nl)
	lo, hi := w.pointerRange(s.syn)
	for k := lo; k < hi; k++ {
		kind, t := w.pointer(k)
		switch kind {
		case ptrAntonym:
			sd.link(s, t, linkAntonym)
		case ptrDerivation, ptrPertainym, ptrParticiple:
			sd.link(s, t, linkDerived)
		case ptrVerbGroup:
			sd.link(s, t, linkGroup)
		case ptrSimilar:
			if s.sat && s.nh < maxHeads && w.class(t) == classAdj {
				s.heads[s.nh] = t
				s.nh++
			}
		}
	}
	if !s.sat {
		s.heads[0], s.nh = s.syn, 1
	} else {
		for _, h := range s.cluster() {
			lo, hi := w.pointerRange(h)
			for k := lo; k < hi; k++ {
				if kind, t := w.pointer(k); kind == ptrAntonym {
					sd.link(s, t, linkAntonym)
				}
			}
		}
	}
	s.hi = uint16(sd.nl)
	s.self = bit(s.syn)
	for _, h := range s.cluster() {
		s.self |= bit(h)
	}
}

func (sd *side) link(s *sense, syn uint32, kind linkKind) {
	s.mask |= bit(syn)
	if sd.nl < maxLinks {
		sd.links[sd.nl] = link{syn, kind}
		sd.nl++
	}
}

// linkFlags is what s's links say about other: an antonym (of its
// synset or cluster), a derivation, a verb group.
func (sd *side) linkFlags(s, other *sense) (ant, der, grp bool) {
	if !s.mayLink(other) {
		return
	}
	for _, l := range sd.links[s.lo:s.hi] {
		if l.syn == other.syn {
			switch l.kind {
			case linkAntonym:
				ant = true
			case linkDerived:
				der = true
			case linkGroup:
				grp = true
			}
		} else if l.kind == linkAntonym && other.sat && contains(other.cluster(), l.syn) {
			ant = true
		}
	}
	return
}

// ancestors fills sd.anc with the hypernyms (and classes of instances) of
// each sense, breadth first, up to MaxDepth steps.
func (w *WordNet) ancestors(sd *side) {
	sd.na = 0
	for i := range sd.s[:sd.n] {
		start := sd.na
		w.addParents(sd, sd.s[i].syn, 1, uint8(i))
		for j := start; j < sd.na; j++ {
			if a := sd.anc[j]; a.depth < MaxDepth {
				w.addParents(sd, a.syn, a.depth+1, uint8(i))
			}
		}
	}
}

func (w *WordNet) addParents(sd *side, syn uint32, depth, from uint8) {
	lo, hi := w.pointerRange(syn)
	for k := lo; k < hi && sd.na < maxAncestors; k++ {
		kind, t := w.pointer(k)
		if kind > ptrInstance {
			break // sorted by kind: the hypernyms come first
		}
		sd.anc[sd.na] = ancestor{syn: t, depth: depth, from: from}
		sd.na++
	}
}

// best keeps the strongest match seen: the higher kind, then the more
// frequent senses (lower largest rank, then lower rank sum), then the
// shorter path; one over the pairs of frequent senses, one over all.
type best struct {
	freq, all           Relation
	freqScore, allScore int
}

func (b *best) offer(kind Kind, depth int, sa, sb sense) {
	score := int(max(sa.rank, sb.rank))<<16 | int(sa.rank+sb.rank)<<8 | depth
	r := Relation{Kind: kind, Depth: depth, POS: sa.pos, RankA: int(sa.rank), RankB: int(sb.rank), Rare: sa.rare || sb.rare}
	if kind > b.all.Kind || kind == b.all.Kind && score < b.allScore {
		b.all, b.allScore = r, score
	}
	if !r.Rare && (kind > b.freq.Kind || kind == b.freq.Kind && score < b.freqScore) {
		b.freq, b.freqScore = r, score
	}
}

// conflict reports whether a kind says the words differ.
func conflict(k Kind) bool { return k == Antonym || k == Sibling }

// result is the strongest relation, unless it needs a rare sense and
// says the words agree while frequent senses say they conflict.
func (b *best) result() Relation {
	if b.all.Rare && !conflict(b.all.Kind) && conflict(b.freq.Kind) {
		return b.freq
	}
	return b.all
}

// relScratch is the working space of one Relate call (24 kB),
// pooled so a call neither allocates nor clears it.
type relScratch struct {
	a, b side
}

var scratch = sync.Pool{New: func() any { return new(relScratch) }}

// Relate tells how two words or phrases (case-insensitive, words joined
// by single spaces, inflected or not) relate in WordNet: the strongest
// Kind over the pairs of their senses (MaxSenses per lemma and part of
// speech), and for it the pair with the most frequent senses. One
// exception protects against rare senses: a relation that needs a rare
// sense (Relation.Rare) and says the words agree (Same, Derived,
// Similar, Hypernym, Hyponym) gives way to a conflict (Antonym,
// Sibling) between frequent senses. So "king"/"queen" are antonyms (the
// monarchs), not the same (a rare sense of "queen" shares a synset with
// "king"), while "pulse"/"heart rate" stay the same (pulse's third
// sense; their frequent senses do not conflict).
//
// The checks, strongest first:
//
//   - Same: a sense of a and a sense of b are one synset.
//   - Antonym: a lemma of a's synset is a direct antonym of a lemma of
//     b's synset (WordNet's antonyms are between words; here synonyms
//     share them: "begin" is an antonym of "end" because "start" is in
//     its synset). For adjectives, WordNet's indirect antonymy: a
//     satellite takes the antonyms of its cluster's head ("scorching",
//     similar to "hot", is an antonym of "cold" and of "freezing",
//     similar to "cold").
//   - Derived: a derivation, pertainym or participle pointer, either
//     way, between a's synset and b's (again between synsets, not only
//     the two words).
//   - Similar: see Similar.
//   - Hypernym / Hyponym: one synset is among the other's hypernyms or
//     instance classes, at most MaxDepth steps up.
//   - Sibling: the two synsets have a common hypernym at most
//     SiblingDepth steps above each, or are adjective satellites of one
//     head.
//
// Relate allocates nothing and is safe for concurrent use.
func (w *WordNet) Relate(a, b string) Relation {
	sc := scratch.Get().(*relScratch)
	r := w.relate(a, b, sc)
	scratch.Put(sc)
	return r
}

func (w *WordNet) relate(a, b string, sc *relScratch) Relation {
	A, B := &sc.a, &sc.b
	w.gather(a, A)
	if A.n == 0 {
		return Relation{}
	}
	w.gather(b, B)
	if B.n == 0 {
		return Relation{}
	}
	var res best
	for _, sa := range A.s[:A.n] {
		for _, sb := range B.s[:B.n] {
			if sa.syn == sb.syn {
				res.offer(Same, 0, sa, sb)
			}
		}
	}
	// Each stage ends the search once nothing later can change the
	// result: a match of frequent senses stronger than all that follows.
	if res.all.Kind == Same && !res.all.Rare {
		return res.all
	}
	for i := range A.s[:A.n] {
		sa := &A.s[i]
		for j := range B.s[:B.n] {
			sb := &B.s[j]
			antA, derA, grpA := A.linkFlags(sa, sb)
			antB, derB, grpB := B.linkFlags(sb, sa)
			if sa.pos != sb.pos {
				if derA || derB {
					res.offer(Derived, 0, *sa, *sb)
				}
				continue
			}
			switch {
			case antA || antB:
				res.offer(Antonym, 0, *sa, *sb)
			case derA || derB:
				res.offer(Derived, 0, *sa, *sb)
			case sa.sat && contains(sa.cluster(), sb.syn) || sb.sat && contains(sb.cluster(), sa.syn), grpA || grpB:
				res.offer(Similar, 0, *sa, *sb)
			case sa.sat && sb.sat && shareAny(sa.cluster(), sb.cluster()):
				// Two satellites of one head: "red"/"blue" (chromatic),
				// "huge"/"enormous" (large).
				res.offer(Sibling, 1, *sa, *sb)
			}
		}
	}
	if res.freq.Kind == Antonym || res.all.Kind > Hypernym && !res.all.Rare {
		return res.result()
	}
	w.ancestors(A)
	w.ancestors(B)
	for _, an := range A.anc[:A.na] {
		for _, sb := range B.s[:B.n] {
			if an.syn == sb.syn {
				res.offer(Hypernym, int(an.depth), A.s[an.from], sb)
			}
		}
	}
	for _, bn := range B.anc[:B.na] {
		for _, sa := range A.s[:A.n] {
			if bn.syn == sa.syn {
				res.offer(Hyponym, int(bn.depth), sa, B.s[bn.from])
			}
		}
	}
	if res.all.Kind > Sibling && !res.all.Rare {
		return res.result()
	}
	for _, an := range A.anc[:A.na] {
		if an.depth > SiblingDepth {
			continue
		}
		for _, bn := range B.anc[:B.na] {
			if bn.depth <= SiblingDepth && an.syn == bn.syn {
				res.offer(Sibling, int(max(an.depth, bn.depth)), A.s[an.from], B.s[bn.from])
			}
		}
	}
	return res.result()
}

func contains(x []uint32, s uint32) bool {
	for _, t := range x {
		if t == s {
			return true
		}
	}
	return false
}

func shareAny(x, y []uint32) bool {
	for _, s := range x {
		for _, t := range y {
			if s == t {
				return true
			}
		}
	}
	return false
}
