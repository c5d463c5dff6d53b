package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/semcache/semcache/cache/verify"
	"github.com/semcache/semcache/embed/wordvec"
)

// wordFlags locate the word knowledge the verifier uses, as semcache serve
// loads it from its model directory.
type wordFlags struct {
	wordvecDir string
}

func (w *wordFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&w.wordvecDir, "wordvec-dir", os.Getenv("SEMCACHE_WORDVEC_DIR"), "directory of the word vectors (semcache model pull; default $SEMCACHE_WORDVEC_DIR; empty: none)")
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
	return o, nil
}
