// Package eval is the measuring instrument of the similarity tier: it
// tells how often semcache serves a paraphrase from the cache and how often
// it serves a wrong answer, on labelled pairs of texts.
//
// It loads labelled pairs (Load; two schemas, see Pair), splits them into a
// tune and a held-out test split that share no text (SplitPairs), and joins
// duplicates into equivalence classes (Classes), which decide whether a
// served answer is right. Three measurements build on that:
//
//   - Pairwise scores every pair with one or more Scorers (the embedder's
//     cosine, the cosine gated by the verifier, later a fused score) and
//     reports ROC AUC with a bootstrap interval, recall at a fixed
//     false-positive rate, and the threshold sweep (Evaluate).
//   - Replay with a CacheBackend replays the pairs through the real lookup
//     path: cache.Open with the real embedder, vector store and verifier,
//     originals stored among distractors, counterparts asked in a shuffled
//     order with misses written back. It reports, per cache size, source
//     family and pair type, paraphrase recall, false-hit and served
//     wrong-answer rates with Wilson intervals.
//   - Replay with an HTTPBackend does the same over HTTP against a running
//     semcache whose upstream is the oracle (bench/upstream with answers
//     from ClassMap.Answer), and reads the served answers themselves.
package eval
