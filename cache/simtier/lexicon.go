package simtier

import (
	"strings"

	"github.com/semcache/semcache/cache/verify"
	"github.com/semcache/semcache/embed/wordnet"
)

// WordNetLexicon adapts WordNet to the verifier's lexicon:
//
//   - synonyms (a shared synset, rare senses included: "pulse"/"heart
//     rate"), adjective satellites and their head ("huge"/"large") and
//     derived forms ("transform"/"transformation") match;
//   - a kind of the other word ("puppy"/"dog", up to two steps, frequent
//     senses) matches as a generalisation;
//   - antonyms are opposites;
//   - co-hyponyms one step under a common class of nouns ("wednesday"/
//     "thursday", "iron"/"calcium") are siblings, never a match;
//   - everything else, cousins two steps apart included, is unrelated.
//
// A superlative never matches its base ("fastest"/"fast": a qualifier),
// whatever WordNet says.
func WordNetLexicon(wn *wordnet.WordNet) verify.Lexicon {
	return verify.LexiconFunc(func(a, b string) verify.WordRelation {
		if superlative(wn, a) != superlative(wn, b) {
			return verify.RelNone
		}
		r := wn.Relate(a, b)
		switch r.Kind {
		case wordnet.Same, wordnet.Similar, wordnet.Derived:
			return verify.RelSame
		case wordnet.Antonym:
			return verify.RelAntonym
		case wordnet.Hypernym:
			if r.Depth <= 2 && !r.Rare {
				return verify.RelHyponym // a is a kind of b
			}
		case wordnet.Hyponym:
			if r.Depth <= 2 && !r.Rare {
				return verify.RelHypernym
			}
		case wordnet.Sibling:
			if r.Depth == 1 && r.POS == wordnet.Noun {
				return verify.RelSibling
			}
		}
		return verify.RelNone
	})
}

// superlative reports whether w is a superlative: it ends in "est" and
// WordNet takes it for an inflection of a shorter word ("fastest" is
// "fast", "cheapest" is "cheap"; "interest" is itself).
func superlative(wn *wordnet.WordNet, w string) bool {
	if !strings.HasSuffix(w, "est") {
		return false
	}
	for _, l := range wn.Lemmas(w) {
		if len(l) < len(w)-1 {
			return true
		}
	}
	return false
}
