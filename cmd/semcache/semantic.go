package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/cache/verify"
	"github.com/semcache/semcache/embed"
	"github.com/semcache/semcache/embed/lexical"
	embedopenai "github.com/semcache/semcache/embed/openai"
	"github.com/semcache/semcache/embed/use"
	"github.com/semcache/semcache/embed/wordnet"
	"github.com/semcache/semcache/embed/wordvec"
	"github.com/semcache/semcache/vectorstore"
	"github.com/semcache/semcache/vectorstore/lazy"
	"github.com/semcache/semcache/vectorstore/memory"
	"github.com/semcache/semcache/vectorstore/pgvector"
	"github.com/semcache/semcache/vectorstore/qdrant"
)

// semantic is the similarity tier's parts as built from the config.
type semantic struct {
	opts     cache.SemanticOptions
	embedder embed.Embedder
	// stack is the composition behind embedder (its counters are metrics).
	stack   *embedStack
	kind    string
	store   vectorstore.Store
	reasons []string
	// verifier is the verifier's word knowledge, loaded once (a reload
	// rebuilds the verifier's cut-offs with it).
	verifier verify.Options
}

// options builds the similarity tier's options from cfg with the tier's
// embedder, store and word knowledge (at start-up and on reload).
func (sem *semantic) options(cfg *config) (cache.SemanticOptions, error) {
	thresholds := map[string]float32{}
	for ns, t := range cfg.file.Thresholds {
		thresholds[ns] = float32(t)
	}
	shadow := map[string]bool{}
	for _, ns := range cfg.file.Shadow {
		shadow[ns] = true
	}
	vo := sem.verifier
	vo.MinScore = float32(cfg.MinScore)
	o, err := simtier.Options(simtier.Config{
		Embedder:        sem.embedder,
		Index:           sem.store,
		Kind:            sem.kind,
		Threshold:       float32(cfg.Threshold),
		Thresholds:      thresholds,
		Shadow:          shadow,
		ShadowAll:       cfg.Semantic == "shadow",
		TopK:            cfg.TopK,
		EmbedTimeout:    cfg.EmbedTimeout,
		SearchTimeout:   cfg.SearchTimeout,
		Verifier:        vo,
		MaxFalseHitRate: float32(cfg.MaxFalseHitRate),
	})
	o.MaxEmbedBytes, o.MaxSemanticBytes = cfg.embedMaxBytes, cfg.semanticMaxBytes
	return o, err
}

// buildEmbedder picks the embedder the config asks for; with "auto" it
// uses the in-process model when present and the lexical embedder
// otherwise, and says which.
func (s *service) buildEmbedder(ctx context.Context) (embed.Embedder, string, error) {
	cfg := s.cfg
	modelDir := cfg.ModelDir
	if modelDir == "" {
		modelDir = use.DefaultDir(cfg.DataDir)
	}
	kind := cfg.Embedder
	if kind == "auto" {
		kind = "lexical"
		if use.Present(modelDir) {
			kind = "use"
		} else {
			s.log.Info("embedder: USE-lite model not found, using the lexical embedder; run 'semcache model pull' for better paraphrase matching",
				"model_dir", modelDir)
		}
	}
	switch kind {
	case "use":
		enc, err := use.Load(modelDir)
		if err != nil {
			return nil, "", fmt.Errorf("embedder use: %w (run 'semcache model pull --data-dir %s')", err, cfg.DataDir)
		}
		return enc, kind, nil
	case "openai":
		e, err := embedopenai.New(ctx, embedopenai.Options{
			BaseURL: cfg.EmbedURL, APIKey: cfg.EmbedKey, Model: cfg.EmbedModel, Dimension: cfg.EmbedDim,
		})
		if err != nil {
			return nil, "", fmt.Errorf("embedder openai: %w", err)
		}
		s.closers = append(s.closers, func() error { e.Close(); return nil })
		return e, kind, nil
	default:
		e, err := lexical.New(lexical.Options{})
		if err != nil {
			return nil, "", err
		}
		return e, "lexical", nil
	}
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// collectionName derives a store collection from the embedder's model id,
// so vectors of different models never share an index.
func collectionName(prefix, modelID string) string {
	n := unsafeName.ReplaceAllString(strings.ToLower(modelID), "_")
	return strings.Trim(prefix+"_"+n, "_")
}

// openStore opens the configured vector store for one collection. A
// pgvector or Qdrant server that is down at start-up does not stop
// semcache: the store connects in the background (vectorstore/lazy) and
// lookups are misses until then. With background, the embedded store
// loads after Open returns (a million entries take seconds) and /readyz
// reports not ready until it has.
func (s *service) openStore(ctx context.Context, collection string, dim int, background bool) (vectorstore.Store, error) {
	cfg := s.cfg
	var open lazy.Opener
	switch cfg.Store {
	case "pgvector":
		open = func(ctx context.Context) (vectorstore.Store, error) {
			st, err := pgvector.Open(ctx, pgvector.Options{DSN: cfg.PGDSN, Table: collection, Dimension: dim, Logger: s.log})
			if err != nil {
				return nil, fmt.Errorf("store pgvector: %w", err)
			}
			return st, nil
		}
	case "qdrant":
		host, port, err := splitHostPort(cfg.QdrantAddr)
		if err != nil {
			return nil, err
		}
		open = func(ctx context.Context) (vectorstore.Store, error) {
			st, err := qdrant.Open(ctx, qdrant.Options{Host: host, Port: port, APIKey: cfg.QdrantKey, UseTLS: cfg.QdrantTLS,
				Collection: collection, Dimension: dim})
			if err != nil {
				return nil, fmt.Errorf("store qdrant: %w", err)
			}
			return st, nil
		}
	default:
		st, err := memory.Open(ctx, memory.Options{Dir: filepath.Join(cfg.DataDir, "vectors", collection), Dimension: dim, Logger: s.log,
			LoadInBackground: background, EfSearch: cfg.MemoryEfSearch})
		if err != nil {
			return nil, fmt.Errorf("store memory: %w", err)
		}
		if background {
			s.loading = append(s.loading, st)
		}
		return st, nil
	}
	return lazy.Open(ctx, lazy.Options{Open: open, Name: cfg.Store + " " + collection, Logger: s.log})
}

// wordKnowledge loads the verifier's word knowledge from the model
// directory: the word vectors when present (without them the verifier
// works, with a weaker score, and says so in the log).
func (s *service) wordKnowledge() (verify.Options, error) {
	var o verify.Options
	dir := s.cfg.WordvecDir
	explicit := dir != ""
	if !explicit {
		dir = wordvec.DefaultDir(s.cfg.DataDir)
	}
	if !explicit && !wordvec.Present(dir) {
		s.log.Warn("word vectors not found; the verifier scores without them (run: semcache model pull)", "dir", dir)
		return o, s.loadWordNet(&o)
	}
	v, err := wordvec.Load(wordvec.File(dir))
	if err != nil {
		return o, fmt.Errorf("word vectors: %w", err)
	}
	o.WordVectors = v
	return o, s.loadWordNet(&o)
}

// loadWordNet adds WordNet to o when present (without it the verifier
// matches words by form only, and says so in the log).
func (s *service) loadWordNet(o *verify.Options) error {
	dir := s.cfg.WordnetDir
	explicit := dir != ""
	if !explicit {
		dir = wordnet.DefaultDir(s.cfg.DataDir)
	}
	if !explicit && !wordnet.Present(dir) {
		s.log.Warn("WordNet not found; the verifier matches words by form only (run: semcache model pull)", "dir", dir)
		return nil
	}
	wn, err := wordnet.Load(wordnet.File(dir))
	if err != nil {
		return fmt.Errorf("wordnet: %w", err)
	}
	o.Lexicon = simtier.WordNetLexicon(wn)
	return nil
}

// openSemantic builds the similarity tier, or returns nil when it is off.
func (s *service) openSemantic(ctx context.Context) (*semantic, error) {
	cfg := s.cfg
	if cfg.Semantic == "off" {
		return nil, nil
	}
	emb, kind, err := s.buildEmbedder(ctx)
	if err != nil {
		return nil, err
	}
	stack, err := newEmbedStack(kind, emb)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, stack.close)
	st, err := s.openStore(ctx, collectionName("semcache_entries", emb.ModelID()), emb.Dimension(), true)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, st.Close)
	vo, err := s.wordKnowledge()
	if err != nil {
		return nil, err
	}
	sem := &semantic{
		embedder: stack.top,
		stack:    stack,
		kind:     kind,
		store:    st,
		reasons:  simtier.Reasons(),
		verifier: vo,
	}
	if sem.opts, err = sem.options(cfg); err != nil {
		return nil, err
	}
	opts := sem.opts
	s.log.Info("similarity tier ready", "embedder", emb.ModelID(), "store", cfg.Store, "similarity_floor", strconv.FormatFloat(float64(opts.Threshold), 'g', 4, 32), "mode", cfg.Semantic)
	return sem, nil
}
