package rag

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/semcache/semcache/embed"
	"github.com/semcache/semcache/rag/chunk"
	"github.com/semcache/semcache/vectorstore"
	"github.com/semcache/semcache/wire/chat"
)

// Enrichment is what Enrich did to a request.
type Enrichment struct {
	// Body is the request body with the context injected; nil when nothing
	// was retrieved (send the original).
	Body []byte
	// Sources are the ids of the injected passages.
	Sources []string
	// Version identifies the content retrieved from; "" when nothing was
	// retrieved.
	Version string
}

// Passage is a retrieved chunk.
type Passage struct {
	// ID is the chunk id (see ChunkID).
	ID         string
	Collection string
	DocID      string
	Source     string
	Title      string
	// Heading is the chunk's heading path ("A > B").
	Heading  string
	Position int
	Text     string
	// Score is the cosine similarity to the query.
	Score float32
}

// TemplateData is what an injection template sees.
type TemplateData struct {
	// Passages are best first.
	Passages []Passage
	// Query is the text retrieval used (the prompt).
	Query string
}

// bound returns the enabled collections namespace ns may read, in config
// order.
func (s *Service) bound(ns string) []*collection {
	var out []*collection
	for _, c := range s.set.Load().order {
		if !c.Disabled && binds(c.Namespaces, ns) {
			out = append(out, c)
		}
	}
	return out
}

// Version names the content ns would be enriched from: "" when no
// collection serves ns, else the collections and their versions. It reads
// an in-memory copy, refreshed on every in-process change and every
// Options.Refresh.
func (s *Service) Version(ns string) string {
	vers := *s.versions.Load()
	var b strings.Builder
	for _, c := range s.set.Load().order {
		if c.Disabled || !binds(c.Namespaces, ns) {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("rag")
		}
		v := vers[c.Name]
		if v == "" {
			v = "empty"
		}
		b.WriteString(";" + c.Name + "@" + v)
	}
	return b.String()
}

// Retrieve returns up to k passages (k <= 0: the largest K of the
// collections) from the collections ns may read, best first. vec is the
// query's embedding.
func (s *Service) Retrieve(ctx context.Context, ns string, vec []float32, k int) ([]Passage, error) {
	return s.retrieve(ctx, s.bound(ns), vec, k)
}

func (s *Service) retrieve(ctx context.Context, cs []*collection, vec []float32, k int) ([]Passage, error) {
	if k <= 0 {
		for _, c := range cs {
			k = max(k, c.K)
		}
	}
	var out []Passage
	for _, c := range cs {
		hits, err := s.store.Search(ctx, vectorstore.Query{
			Vector: vec, K: c.K, MinScore: c.minScore,
			Filter: vectorstore.Filter{Namespace: c.Name, Partition: vectorstore.PartitionOf(""), Meta: c.Filter},
		})
		if err != nil {
			return nil, fmt.Errorf("rag: search %s: %w", c.Name, err)
		}
		for _, h := range hits {
			// Defence in depth: never trust a store's filter with another
			// tenant's collection.
			if h.Record.Namespace != c.Name {
				continue
			}
			var p chunkPayload
			if err := json.Unmarshal(h.Record.Payload, &p); err != nil {
				continue
			}
			out = append(out, Passage{ID: h.Record.ID, Collection: c.Name, DocID: p.Doc, Source: p.Source,
				Title: p.Title, Heading: p.Heading, Position: p.Position, Text: p.Text, Score: h.Score})
		}
	}
	slices.SortStableFunc(out, func(a, b Passage) int { return cmp.Compare(b.Score, a.Score) })
	if k > 0 && len(out) > k {
		out = out[:k]
	}
	return out, nil
}

// Enrich retrieves passages for a request's prompt and injects them. It
// reuses vector (the cache lookup's embedding of req.Prompt) when the
// embedders match. Nothing retrieved: a zero Enrichment.
func (s *Service) Enrich(ctx context.Context, ns string, req *chat.Request, vector []float32) (Enrichment, error) {
	cs := s.bound(ns)
	if len(cs) == 0 {
		return Enrichment{}, nil
	}
	query := req.Prompt
	if query == "" {
		query = lastUserText(req)
	}
	if strings.TrimSpace(query) == "" {
		return Enrichment{}, nil
	}
	vec := vector
	if vec == nil || !s.reuse || query != req.Prompt {
		ectx, cancel := context.WithTimeout(ctx, s.o.EmbedTimeout)
		vecs, err := embedWithin(ectx, s.emb, queryText(query))
		cancel()
		if err != nil {
			return Enrichment{}, fmt.Errorf("rag: embed prompt: %w", err)
		}
		if len(vecs) != 1 {
			return Enrichment{}, fmt.Errorf("rag: embedder returned %d vectors for 1 text", len(vecs))
		}
		vec = vecs[0]
	}
	version := s.Version(ns)
	sctx, cancel := context.WithTimeout(ctx, s.o.SearchTimeout)
	passages, err := s.retrieve(sctx, cs, vec, 0)
	cancel()
	if err != nil {
		return Enrichment{}, err
	}
	if len(passages) == 0 {
		return Enrichment{}, nil
	}
	body, used, err := inject(req, cs[0], TemplateData{Passages: passages, Query: query})
	if err != nil || body == nil {
		return Enrichment{}, err
	}
	sources := make([]string, len(used))
	for i, p := range used {
		sources[i] = p.ID
	}
	return Enrichment{Body: body, Sources: sources, Version: version}, nil
}

// lastUserText is the text of the last user message when it ends the
// conversation ("" otherwise).
func lastUserText(req *chat.Request) string {
	if n := len(req.Messages); n > 0 && req.Messages[n-1].Role == "user" {
		return req.Messages[n-1].Text
	}
	return ""
}

// inject renders as many passages as fit in c's budget and splices the
// message into the request body. It returns nil when nothing fits.
func inject(req *chat.Request, c *collection, data TemplateData) ([]byte, []Passage, error) {
	text, used, err := render(c, data)
	if err != nil || text == "" {
		return nil, nil, err
	}
	msg, err := json.Marshal(struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}{c.Role, text})
	if err != nil {
		return nil, nil, err
	}
	body, err := insertMessage(req.Body, insertAt(req.Messages, c.Placement), msg)
	if err != nil {
		return nil, nil, err
	}
	return body, used, nil
}

// insertAt is the index the context message goes to.
func insertAt(msgs []chat.Message, p Placement) int {
	if p == PlaceBeforeLastUser {
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Role == "user" {
				return i
			}
		}
	}
	i := 0
	for i < len(msgs) && (msgs[i].Role == "system" || msgs[i].Role == "developer") {
		i++
	}
	return i
}

// render executes the template with the longest prefix of passages that
// fits the budget; when not even the first passage fits, its text is
// shortened to fit. It returns "" when nothing fits.
func render(c *collection, data TemplateData) (string, []Passage, error) {
	all := data.Passages
	var buf bytes.Buffer
	exec := func(ps []Passage) (string, error) {
		buf.Reset()
		data.Passages = ps
		if err := c.tmpl.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("rag: template %s: %w", c.Name, err)
		}
		return strings.TrimSpace(buf.String()), nil
	}
	var best string
	n := 0
	for n < len(all) {
		text, err := exec(all[:n+1])
		if err != nil {
			return "", nil, err
		}
		if !c.fits(text) {
			break
		}
		best, n = text, n+1
	}
	if n > 0 {
		return best, all[:n], nil
	}
	// The first passage alone is too long: shorten it.
	first := all[0]
	text := first.Text
	first.Text = ""
	frame, err := exec([]Passage{first})
	if err != nil {
		return "", nil, err
	}
	room := c.MaxChars - utf8.RuneCountInString(frame) - 1
	if c.MaxTokens > 0 {
		room = min(room, (c.MaxTokens-chunk.EstimateTokens(frame))*2)
	}
	for room >= 50 {
		first.Text = truncate(text, room)
		out, err := exec([]Passage{first})
		if err != nil {
			return "", nil, err
		}
		if c.fits(out) {
			return out, []Passage{first}, nil
		}
		room = room * 3 / 4
	}
	return "", nil, nil
}

// fits reports whether text is within the collection's budget.
func (c *collection) fits(text string) bool {
	if utf8.RuneCountInString(text) > c.MaxChars {
		return false
	}
	return c.MaxTokens == 0 || chunk.EstimateTokens(text) <= c.MaxTokens
}

// truncate shortens s to at most n runes, at a space when one is near,
// marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if utf8.RuneCountInString(s[:i]) >= n-1 {
			break
		}
		cut = i
	}
	if sp := strings.LastIndexAny(s[:cut], " \n\t"); sp > cut*3/4 {
		cut = sp
	}
	return strings.TrimRight(s[:cut], " \n\t") + "…"
}

// insertMessage returns body with msg inserted at index at of its
// top-level "messages" array; every other byte is unchanged. With duplicate
// "messages" fields the last one (the one JSON decoders keep) is used.
func insertMessage(body []byte, at int, msg []byte) ([]byte, error) {
	start, end, err := fieldRange(body, "messages")
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body[start:end]))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, fmt.Errorf("rag: request messages are not an array")
	}
	pos := int(dec.InputOffset()) // just after '[': an empty array
	var insert []byte
	for i := 0; ; i++ {
		if !dec.More() {
			if i > 0 {
				insert = append([]byte{','}, msg...)
			}
			break
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("rag: request messages: %w", err)
		}
		after := int(dec.InputOffset())
		if i == at {
			pos = after - len(raw)
			insert = append(append([]byte{}, msg...), ',')
			break
		}
		pos = after
	}
	if insert == nil {
		insert = msg
	}
	pos += start
	out := make([]byte, 0, len(body)+len(insert))
	out = append(out, body[:pos]...)
	out = append(out, insert...)
	return append(out, body[pos:]...), nil
}

// fieldRange finds the bytes of the value of a top-level field (the last
// one when it is repeated).
func fieldRange(body []byte, name string) (start, end int, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, 0, fmt.Errorf("rag: request body is not a JSON object")
	}
	start = -1
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return 0, 0, fmt.Errorf("rag: request body: %w", err)
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return 0, 0, fmt.Errorf("rag: request body: %w", err)
		}
		if key == name {
			end = int(dec.InputOffset())
			start = end - len(raw)
		}
	}
	if start < 0 {
		return 0, 0, fmt.Errorf("rag: request body has no %q field", name)
	}
	return start, end, nil
}

// maxQueryBytes bounds the retrieval query embedded for a prompt: a
// longer prompt is searched with its first maxQueryBytes (cut on a rune
// boundary), so a huge prompt costs no more than a long one.
const maxQueryBytes = 8 << 10

func queryText(q string) string {
	if len(q) <= maxQueryBytes {
		return q
	}
	cut := maxQueryBytes
	for cut > 0 && !utf8.RuneStart(q[cut]) {
		cut--
	}
	return q[:cut]
}

// embedWithin embeds one text, returning when ctx is done even if the
// embedder (an in-process model) does not watch ctx; its late result is
// dropped.
func embedWithin(ctx context.Context, emb embed.Embedder, text string) ([][]float32, error) {
	type result struct {
		vecs [][]float32
		err  error
	}
	done := make(chan result, 1)
	go func() {
		vecs, err := emb.Embed(ctx, []string{text})
		done <- result{vecs, err}
	}()
	select {
	case r := <-done:
		return r.vecs, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
