// Package budget decides, under an operator's error budget, whether a
// semantic candidate may be served: it learns online, per namespace and
// per cached entry, how often candidates at a given calibrated score are
// wrong, and serves only where the learned error keeps the share of wrong
// semantic hits within the budget.
//
// The verifier (cache/verify) rejects candidates by rules and gives every
// other one a calibrated score. A static cut-off on that score is wrong
// somewhere: too strict for one tenant's traffic, too loose for another's,
// and blind to entries whose look-alikes score high. A Learner replaces it
// in the namespaces that have a budget.
//
// What it learns from (Observation.Source):
//
//   - miss: a candidate it refused. The request goes upstream anyway, so
//     comparing the fresh answer with the candidate's cached one labels the
//     candidate for free.
//   - explore: a candidate it would have served, sent upstream instead with
//     a probability that grows with the decision's uncertainty (under a
//     global cap on the extra upstream calls). Its label carries the weight
//     1/probability, so the labelled sample stays representative of what is
//     served, and it measures the served wrong-hit rate without bias.
//   - shadow: a would-be hit of a shadow-mode namespace, always compared.
//   - feedback: a client or operator marked a served hit right or wrong.
//
// What it keeps: per namespace and kind of text (request, description),
// weighted counts of candidates, labels and wrong labels in 24 buckets of
// the score (on the scale -log10(1-score), so the buckets are fine where
// the scores crowd, near 1); per entry the last EntryObservations labelled
// (score, wrong) pairs. Both are bounded and persisted through a Store
// (the cache keeps them in its disk tier, keyed by entry, and deletes an
// entry's state with the entry).
//
// How it decides (Learner.Decide): per namespace, the error of each score
// bucket is estimated with monotonicity (a candidate scoring higher is
// never more likely wrong: pool-adjacent-violators over the buckets), as a
// Beta posterior. The buckets of all kinds are ranked by estimated error
// and admitted, lowest first, as long as the upper confidence bound of the
// error of everything admitted — the wrong share of the served set, not of
// each bucket — stays within the budget. The estimated error of the last
// admitted bucket is the namespace's risk allowance. A candidate is served
// when its entry's error estimate at its score is within the allowance:
// the namespace's estimate as the prior, moved by the entry's own evidence
// (a wrong answer at a score s is evidence against every score up to s, a
// right one for every score from s up). When nothing can be admitted (no
// score is safe), nothing is served.
package budget
