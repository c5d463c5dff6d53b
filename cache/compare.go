package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// DefaultAnswerMinSimilarity is the cosine similarity two answers need
// (before the verifier looks at them) to count as the same answer.
const DefaultAnswerMinSimilarity = 0.8

// SameAnswer tells whether a cached answer still answers a request whose
// fresh answer is fresh: equal texts are; JSON answers (structured
// outputs) are compared as JSON values; other texts must embed close
// (DefaultAnswerMinSimilarity) and pass the similarity tier's judge, which
// rejects differing numbers, negations and entities. The error-budget
// learner labels its candidates with it.
func (c *Cache) SameAnswer(ctx context.Context, cached, fresh string) (bool, error) {
	if cached == fresh {
		return true, nil
	}
	a, b := bytes.TrimSpace([]byte(cached)), bytes.TrimSpace([]byte(fresh))
	if bytes.Equal(a, b) {
		return true, nil
	}
	if ja, jb, ok := bothJSON(a, b); ok {
		return reflect.DeepEqual(ja, jb), nil
	}
	sem := c.semantic()
	if sem == nil {
		return false, errors.New("cache: no similarity tier to compare answers with")
	}
	sim, err := c.AnswerSimilarity(ctx, cached, fresh)
	if err != nil {
		return false, err
	}
	if sim < DefaultAnswerMinSimilarity {
		return false, nil
	}
	if sem.Verify == nil {
		return true, nil
	}
	js := sem.Verify.Judge(ctx, Text{Prompt: fresh}, []Candidate{{Text: Text{Prompt: cached}, Similarity: sim}})
	if len(js) != 1 {
		return false, fmt.Errorf("cache: judge returned %d judgements for 1 answer", len(js))
	}
	return js[0].OK, nil
}

// bothJSON decodes two texts that are both JSON objects or arrays.
func bothJSON(a, b []byte) (any, any, bool) {
	isJSON := func(p []byte) bool { return len(p) > 0 && (p[0] == '{' || p[0] == '[') }
	if !isJSON(a) || !isJSON(b) {
		return nil, nil, false
	}
	var ja, jb any
	if json.Unmarshal(a, &ja) != nil || json.Unmarshal(b, &jb) != nil {
		return nil, nil, false
	}
	return ja, jb, true
}

// AliasIDOf is the store id of the alias a semantic hit served for l
// creates on the entry key (see Alias).
func AliasIDOf(entryKey string, l Lookup) string {
	return aliasID(entryKey, EmbedText(l.Prompt, l.Context))
}

// RemoveAliases deletes alias records by id (a hit marked wrong removes
// the aliases that led to it).
func (c *Cache) RemoveAliases(ctx context.Context, ids []string) error {
	sem := c.semantic()
	if sem == nil || len(ids) == 0 {
		return nil
	}
	if err := sem.Index.Delete(ctx, ids); err != nil {
		return fmt.Errorf("cache: remove aliases: %w", err)
	}
	return nil
}
