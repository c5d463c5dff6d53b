package eval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/embed"
	"github.com/semcache/semcache/vectorstore/memory"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/chat"
)

// DefaultModel is the model named in the replayed requests.
const DefaultModel = "sim-gpt"

// DefaultNamespace is the namespace (tenant) of the in-process replay.
const DefaultNamespace = "tenant:eval"

// SemanticFunc builds the similarity tier's options from the embedder and
// the index of a batch. The command passes simtier.Options, so the replay
// runs the service's own decision.
type SemanticFunc func(emb cache.Embedder, idx cache.Index) (cache.SemanticOptions, error)

// CacheBackendOptions configure a CacheBackend.
type CacheBackendOptions struct {
	// Embedder is the similarity tier's embedder. The backend wraps it in
	// the project's embedding cache (embed.NewCached) once, so a text is
	// embedded once per run, whatever the batch or size.
	Embedder embed.Embedder
	// EmbedCacheEntries bounds that cache (0: 1<<18).
	EmbedCacheEntries int
	// Semantic builds the tier's options (required).
	Semantic SemanticFunc
	// Mode is what the tier embeds (default wire.PromptLastMessage, as
	// the service).
	Mode wire.PromptMode
	// Namespace of every request (default DefaultNamespace); Model named
	// in them (default DefaultModel).
	Namespace, Model string
	// Dir is where the batches' temporary directories go ("": the
	// system's temporary directory).
	Dir string
	// Logger gets the cache's and the store's logs (nil: discarded).
	Logger *slog.Logger
}

// CacheBackend replays through the real lookup path in process: per batch
// a fresh cache.Open with its disk tier and a fresh embedded vector store
// (vectorstore/memory) in a temporary directory, the similarity tier built
// by Semantic, Get for lookups and Put for write-back, with Flush before
// the next lookup.
type CacheBackend struct {
	opts CacheBackendOptions
	emb  *embed.Cached
}

var (
	_ Backend = (*CacheBackend)(nil)
	_ Warmer  = (*CacheBackend)(nil)
)

// NewCacheBackend validates opts.
func NewCacheBackend(opts CacheBackendOptions) (*CacheBackend, error) {
	var errs []error
	if opts.Embedder == nil {
		errs = append(errs, errors.New("eval: cache backend needs an embedder"))
	}
	if opts.Semantic == nil {
		errs = append(errs, errors.New("eval: cache backend needs the similarity tier's options"))
	}
	if opts.Mode == "" {
		opts.Mode = wire.DefaultPromptMode
	}
	if !opts.Mode.Valid() {
		errs = append(errs, fmt.Errorf("eval: unknown prompt mode %q (want context, last or conversation)", opts.Mode))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.EmbedCacheEntries <= 0 {
		opts.EmbedCacheEntries = 1 << 18
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Model == "" {
		opts.Model = DefaultModel
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &CacheBackend{opts: opts, emb: embed.NewCached(opts.Embedder, embed.CacheOptions{MaxEntries: opts.EmbedCacheEntries})}, nil
}

// RequestBody is the chat-completion body a side is sent as.
func RequestBody(model string, s Side) []byte {
	b, _ := json.Marshal(struct {
		Model    string    `json:"model"`
		Messages []Message `json:"messages"`
	}{model, s.Messages()}) // plain strings: cannot fail
	return b
}

// parse reads a side's request through the chat endpoint, as the service
// does.
func (b *CacheBackend) parse(s Side) (*chat.Request, error) {
	req, err := chat.ParseRequest(RequestBody(b.opts.Model, s), b.opts.Mode)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	return req, nil
}

// embedBatchSize is the number of prompts embedded per call in setup.
const embedBatchSize = 64

// embedPrompts embeds the non-empty prompts in batches; the result has one
// vector per prompt (nil for an empty one).
func (b *CacheBackend) embedPrompts(ctx context.Context, prompts []string) ([][]float32, error) {
	out := make([][]float32, len(prompts))
	var idx []int
	var texts []string
	flush := func() error {
		if len(texts) == 0 {
			return nil
		}
		vecs, err := b.emb.Embed(ctx, texts)
		if err != nil {
			return fmt.Errorf("eval: embedding %d prompts: %w", len(texts), err)
		}
		if len(vecs) != len(texts) {
			return fmt.Errorf("eval: embedder returned %d vectors for %d texts", len(vecs), len(texts))
		}
		for n, i := range idx {
			out[i] = vecs[n]
		}
		idx, texts = idx[:0], texts[:0]
		return nil
	}
	for i, p := range prompts {
		if p == "" {
			continue
		}
		idx = append(idx, i)
		texts = append(texts, p)
		if len(texts) == embedBatchSize {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	return out, flush()
}

// Warm embeds the prompts of every side in batches, filling the embedding
// cache before the first lookup.
func (b *CacheBackend) Warm(ctx context.Context, sides []Side) error {
	prompts := make([]string, 0, len(sides))
	for _, s := range sides {
		req, err := b.parse(s)
		if err != nil {
			return err
		}
		prompts = append(prompts, cache.EmbedText(req.Prompt, req.Context))
	}
	_, err := b.embedPrompts(ctx, prompts)
	return err
}

// NewBatch opens a fresh cache and vector store in a new temporary
// directory.
func (b *CacheBackend) NewBatch(ctx context.Context, name string) (Batch, error) {
	dir, err := os.MkdirTemp(b.opts.Dir, "semcache-eval-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	st, err := memory.Open(ctx, memory.Options{Dir: filepath.Join(dir, "vectors"), Dimension: b.emb.Dimension(), Logger: b.opts.Logger})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("eval: %w", err)
	}
	sem, err := b.opts.Semantic(b.emb, st)
	if err == nil {
		var c *cache.Cache
		c, err = cache.Open(cache.Options{Dir: filepath.Join(dir, "cache"), Semantic: &sem, Logger: b.opts.Logger})
		if err == nil {
			return &cacheBatch{b: b, dir: dir, store: st, cache: c, entries: map[string]StoreEntry{}}, nil
		}
	}
	st.Close()
	os.RemoveAll(dir)
	return nil, fmt.Errorf("eval: %w", err)
}

// cacheBatch is one fresh in-process cache.
type cacheBatch struct {
	b     *CacheBackend
	dir   string
	store *memory.Store
	cache *cache.Cache
	// entries maps entry ids to what was stored (rejections name them).
	entries map[string]StoreEntry
}

// flushEvery bounds how many Puts the setup queues before it waits for
// the write-back: the queue must never overflow (a dropped write would
// leave an entry out of the similarity tier).
const flushEvery = 256

func (cb *cacheBatch) lookup(req *chat.Request) cache.Lookup {
	l := req.Lookup()
	l.Namespace = cb.b.opts.Namespace
	return l
}

func (cb *cacheBatch) answer(content string) cache.Answer {
	a := chat.Answer{Model: cb.b.opts.Model, Payload: chat.Payload{Role: "assistant", Content: content, FinishReason: "stop"}}
	return a.Cache()
}

// flush waits until every queued write has landed in the disk tier and
// the vector store, and any graph build is done.
func (cb *cacheBatch) flush(ctx context.Context) error {
	if err := cb.cache.Flush(ctx); err != nil {
		return fmt.Errorf("eval: flushing the write-back: %w", err)
	}
	if err := cb.store.WaitIndexed(ctx); err != nil {
		return fmt.Errorf("eval: waiting for the index: %w", err)
	}
	return nil
}

// Store parses every entry's request, embeds the prompts in batches and
// Puts each with its vector. The embedded text is the one a lookup
// embeds (cache.EmbedText: a follow-up after its context), as a miss's
// write-back stores it.
func (cb *cacheBatch) Store(ctx context.Context, entries []StoreEntry) error {
	reqs := make([]*chat.Request, len(entries))
	prompts := make([]string, len(entries))
	for i, e := range entries {
		req, err := cb.b.parse(e.Side)
		if err != nil {
			return err
		}
		reqs[i], prompts[i] = req, cache.EmbedText(req.Prompt, req.Context)
	}
	vecs, err := cb.b.embedPrompts(ctx, prompts)
	if err != nil {
		return err
	}
	for i, e := range entries {
		ent := cb.cache.Put(cb.lookup(reqs[i]), cb.answer(e.Answer), vecs[i], 0, nil)
		cb.entries[ent.ID] = StoreEntry{Side: Side{Text: ent.Prompt}, Answer: e.Answer}
		if (i+1)%flushEvery == 0 {
			if err := cb.flush(ctx); err != nil {
				return err
			}
		}
	}
	if err := cb.flush(ctx); err != nil {
		return err
	}
	if st := cb.cache.Stats(); st.Dropped > 0 || st.WriteErrors > 0 || st.StoreErrors > 0 || st.EmbedErrors > 0 {
		return fmt.Errorf("eval: setup lost entries: %d dropped, %d disk errors, %d store errors, %d embedder errors",
			st.Dropped, st.WriteErrors, st.StoreErrors, st.EmbedErrors)
	}
	return nil
}

// Ask looks s up with cache.Get, as the proxy engine does, and on a miss
// Puts answer with the lookup's vector and flushes.
func (cb *cacheBatch) Ask(ctx context.Context, s Side, answer string) (Outcome, error) {
	req, err := cb.b.parse(s)
	if err != nil {
		return Outcome{}, err
	}
	l := cb.lookup(req)
	start := time.Now()
	res := cb.cache.Get(ctx, l)
	out := Outcome{
		Latency:  time.Since(start),
		StepTime: res.ExactTime + res.EmbedTime + res.SearchTime + res.JudgeTime,
		Degraded: res.EmbedErr != nil || res.SearchErr != nil,
	}
	for _, r := range res.Rejections {
		e := cb.entries[r.EntryID]
		out.Rejections = append(out.Rejections, Rejection{EntryID: r.EntryID, Score: r.Score, Reason: r.Reason,
			Prompt: e.Side.Text, Answer: e.Answer})
	}
	switch res.Tier {
	case cache.TierExact, cache.TierSemantic:
		if res.Tier == cache.TierSemantic {
			// As the engine does: the query's wording becomes an alias of
			// the entry it was served from.
			cb.cache.Alias(l, res)
			if err := cb.flush(ctx); err != nil {
				return out, err
			}
		}
		out.Tier = string(res.Tier)
		out.Answer = res.Entry.Answer.Text
		out.EntryID, out.EntryPrompt, out.Similarity, out.Score, out.ScoreKind = res.Entry.ID, res.Entry.Prompt, res.Similarity, res.Score, res.ScoreKind
		out.Matched = res.Matched
		return out, nil
	}
	l.Vector = res.Vector
	ent := cb.cache.Put(l, cb.answer(answer), res.Vector, 0, nil)
	cb.entries[ent.ID] = StoreEntry{Side: Side{Text: ent.Prompt}, Answer: answer}
	return out, cb.flush(ctx)
}

// Close closes the cache and the store and removes the directory.
func (cb *cacheBatch) Close() error {
	err := errors.Join(cb.cache.Close(), cb.store.Close())
	return errors.Join(err, os.RemoveAll(cb.dir))
}
