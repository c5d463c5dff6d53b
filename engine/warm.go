package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire/canon"
)

// WarmLine is one line of a warm file: a request and the answer to serve
// for it.
//
//	{"request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is 2+2?"}]},
//	 "response": {"content": "4", "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13}}}
//
// Response is the API's own answer object (a chat.completion, a response,
// an embeddings list…; it must be cacheable) or, for chat, the short form
// {"content": ..., "model": ..., "usage": ...} where only content is
// required.
type WarmLine struct {
	// Endpoint names the API (default "chat").
	Endpoint string          `json:"endpoint,omitempty"`
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response"`
	// TTLSeconds overrides the cache's default lifetime (0: default).
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
}

// Warmable is a Request that reads warm-file answers in a form of its own
// (chat's short form); others go through their assembler.
type Warmable interface {
	WarmAnswers(raw []byte) ([]cache.Answer, error)
}

const (
	maxWarmLine   = 16 << 20
	maxWarmErrors = 10
)

// Warm stores the request/answer pairs of a JSON Lines stream (see
// WarmLine) in namespace ns and reports how many answers it stored. Blank
// lines are skipped. Every line is checked before anything is stored: on
// any bad line Warm stores nothing and returns an error wrapping
// cache.ErrInvalid that names the first bad lines. Entries are written
// synchronously to every tier, so they are served by exact and semantic
// lookups as soon as Warm returns. Warmed entries carry no RAG salt:
// namespaces whose requests are enriched do not match them.
func (e *Engine) Warm(ctx context.Context, ns string, r io.Reader) (int, error) {
	if ns == "" {
		return 0, fmt.Errorf("%w: empty namespace", cache.ErrInvalid)
	}
	byName := map[string]Endpoint{}
	for _, ep := range e.endpoints {
		byName[ep.Name] = ep
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxWarmLine)
	var items []cache.WarmItem
	var errs []error
	bad, line := 0, 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		its, err := parseWarmLine(text, ns, byName)
		if err != nil {
			bad++
			if bad <= maxWarmErrors {
				errs = append(errs, fmt.Errorf("line %d: %w", line, err))
			}
			continue
		}
		items = append(items, its...)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return 0, fmt.Errorf("%w: warm: line %d is longer than %d bytes", cache.ErrInvalid, line+1, maxWarmLine)
		}
		return 0, fmt.Errorf("engine: warm: read: %w", err)
	}
	if bad > 0 {
		if bad > maxWarmErrors {
			errs = append(errs, fmt.Errorf("and %d more bad lines", bad-maxWarmErrors))
		}
		return 0, fmt.Errorf("%w: warm: %d bad lines, nothing stored:\n%w", cache.ErrInvalid, bad, errors.Join(errs...))
	}
	return e.cache.Warm(ctx, items)
}

func parseWarmLine(text []byte, ns string, byName map[string]Endpoint) ([]cache.WarmItem, error) {
	var wl WarmLine
	if err := json.Unmarshal(text, &wl); err != nil {
		return nil, fmt.Errorf("not a JSON object with request and response: %s", canon.ErrorText(err))
	}
	if !canon.Present(wl.Request) {
		return nil, errors.New("missing request")
	}
	if !canon.Present(wl.Response) {
		return nil, errors.New("missing response")
	}
	if wl.TTLSeconds < 0 {
		return nil, errors.New("ttl_seconds must not be negative")
	}
	name := wl.Endpoint
	if name == "" {
		name = "chat"
	}
	ep, ok := byName[name]
	if !ok {
		return nil, fmt.Errorf("unknown endpoint %q", name)
	}
	req, err := ep.Parse(wl.Request)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if r := req.Bypass(); r != "" {
		return nil, fmt.Errorf("request is never cached: %s", r)
	}
	lookups := req.Items()
	var answers []cache.Answer
	if w, ok := req.(Warmable); ok {
		answers, err = w.WarmAnswers(wl.Response)
	} else {
		asm := req.Assembler(false, allItems(len(lookups)))
		_, _ = asm.Write(wl.Response)
		answers, err = asm.Answers(true)
	}
	if err != nil {
		return nil, fmt.Errorf("response: %w", err)
	}
	if len(answers) != len(lookups) {
		return nil, fmt.Errorf("response: %d answers for %d items", len(answers), len(lookups))
	}
	items := make([]cache.WarmItem, len(lookups))
	for i, l := range lookups {
		l.Namespace = ns
		items[i] = cache.WarmItem{Lookup: l, Answer: answers[i], TTL: time.Duration(wl.TTLSeconds) * time.Second}
	}
	return items, nil
}
