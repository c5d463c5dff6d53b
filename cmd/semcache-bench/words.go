package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/cache/verify"
	"github.com/semcache/semcache/embed/wordnet"
	"github.com/semcache/semcache/embed/wordvec"
)

// wordFlags locate the word knowledge the verifier uses, as semcache serve
// loads it from its model directory.
type wordFlags struct {
	wordvecDir, wordnetDir string
}

func (w *wordFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&w.wordvecDir, "wordvec-dir", os.Getenv("SEMCACHE_WORDVEC_DIR"), "directory of the word vectors (semcache model pull; default $SEMCACHE_WORDVEC_DIR; empty: none)")
	fs.StringVar(&w.wordnetDir, "wordnet-dir", os.Getenv("SEMCACHE_WORDNET_DIR"), "directory of WordNet (semcache model pull; default $SEMCACHE_WORDNET_DIR; empty: none)")
}

// options loads the word knowledge into verifier options.
func (w *wordFlags) options() (verify.Options, error) {
	var o verify.Options
	if w.wordvecDir != "" {
		v, err := wordvec.Load(wordvec.File(w.wordvecDir))
		if err != nil {
			return o, fmt.Errorf("words: %w", err)
		}
		o.WordVectors = v
	}
	if w.wordnetDir != "" {
		wn, err := wordnet.Load(wordnet.File(w.wordnetDir))
		if err != nil {
			return o, fmt.Errorf("words: %w", err)
		}
		o.Lexicon = simtier.WordNetLexicon(wn)
	}
	return o, nil
}
