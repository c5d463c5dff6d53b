package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/embed"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/httpapi"
	"github.com/semcache/semcache/rag"
	"github.com/semcache/semcache/rag/chunk"
)

// ragConfig is the YAML file's rag: section.
//
//	rag:
//	  chunk_unit: chars        # or tokens (estimated)
//	  chunk_size: 1200         # default 1200 chars / 300 tokens
//	  chunk_overlap: 150       # default size/8; -1 for none
//	  max_doc_bytes: 10MiB
//	  refresh: 5s              # pgvector/qdrant: re-read collection versions
//	  collections:
//	    - name: handbook
//	      namespaces: [acme, "key:3f2a…", "*"]
//	      k: 4
//	      min_score: 0.2
//	      placement: system    # or before_last_user
//	      role: system
//	      max_chars: 6000
//	      max_tokens: 0
//	      filter: {source: docs/hr/handbook.md}
//	      template: |
//	        Use the following context …
//	        {{range .Passages}}[{{.ID}}] {{.Title}}
//	        {{.Text}}
//	        {{end}}
type ragConfig struct {
	Collections  []rag.Collection `yaml:"collections"`
	ChunkUnit    string           `yaml:"chunk_unit"`
	ChunkSize    int              `yaml:"chunk_size"`
	ChunkOverlap int              `yaml:"chunk_overlap"`
	MaxDocBytes  string           `yaml:"max_doc_bytes"`
	Refresh      time.Duration    `yaml:"refresh"`

	// derived by validate
	maxDocBytes int64
}

func (r *ragConfig) chunking() chunk.Options {
	return chunk.Options{Unit: chunk.Unit(r.ChunkUnit), Size: r.ChunkSize, Overlap: r.ChunkOverlap}
}

// validateRAG checks --rag and the rag: section.
func (c *config) validateRAG() []error {
	var errs []error
	switch c.RAG {
	case "on", "off":
	default:
		errs = append(errs, fmt.Errorf("--rag %q: want on or off", c.RAG))
	}
	r := &c.file.RAG
	if err := rag.ValidateCollections(r.Collections); err != nil {
		errs = append(errs, fmt.Errorf("rag.collections: %w", err))
	}
	if _, err := chunk.New(r.chunking()); err != nil {
		errs = append(errs, fmt.Errorf("rag: %w", err))
	}
	r.maxDocBytes = rag.DefaultMaxDocBytes
	if r.MaxDocBytes != "" {
		n, err := humanize.ParseBytes(r.MaxDocBytes)
		if err != nil || n < 1 || n > 1<<30 {
			errs = append(errs, fmt.Errorf("rag.max_doc_bytes %q: want a size up to 1GiB, e.g. 10MiB", r.MaxDocBytes))
		}
		r.maxDocBytes = int64(n)
	}
	if r.Refresh < 0 {
		errs = append(errs, fmt.Errorf("rag.refresh %v: must not be negative", r.Refresh))
	}
	return errs
}

// openRAG builds the RAG enricher from the config; nil when RAG is off.
func (s *service) openRAG(ctx context.Context, sem *semantic, c *cache.Cache) (engine.Enricher, error) {
	if s.cfg.RAG == "off" || len(s.cfg.file.RAG.Collections) == 0 {
		return nil, nil
	}
	svc, err := s.openRAGService(ctx, sem, c)
	if err != nil {
		return nil, err
	}
	s.rag = svc
	return svc, nil
}

// openRAGService opens the chunk store and the RAG service. With a
// similarity tier it shares its embedder (so Enrich reuses the lookup's
// vector); purger nil records purges for the next server (offline ingest).
func (s *service) openRAGService(ctx context.Context, sem *semantic, purger rag.Purger) (*rag.Service, error) {
	cfg := s.cfg
	var emb embed.Embedder
	lookup := ""
	if sem != nil {
		emb, lookup = sem.embedder, sem.embedder.ModelID()
	} else {
		e, _, err := s.buildEmbedder(ctx)
		if err != nil {
			return nil, err
		}
		emb = e
		if purger != nil { // serving: prompts repeat
			emb = embed.NewCached(e, embed.CacheOptions{})
		}
	}
	collection := collectionName("semcache_rag", emb.ModelID())
	st, err := s.openStore(ctx, collection, emb.Dimension(), false)
	if err != nil {
		return nil, fmt.Errorf("rag: %w", err)
	}
	s.closers = append(s.closers, st.Close)
	refresh := time.Duration(0)
	if cfg.Store != "memory" {
		refresh = cfg.file.RAG.Refresh
		if refresh == 0 {
			refresh = 5 * time.Second
		}
	}
	svc, err := rag.New(ctx, rag.Options{
		Store:         st,
		Embedder:      emb,
		LookupModel:   lookup,
		Collections:   cfg.file.RAG.Collections,
		Chunking:      cfg.file.RAG.chunking(),
		MaxDocBytes:   int(cfg.file.RAG.maxDocBytes),
		Purger:        purger,
		Refresh:       refresh,
		EmbedTimeout:  cfg.EmbedTimeout,
		SearchTimeout: cfg.SearchTimeout,
		Logger:        s.log,
	})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, svc.Close)
	s.log.Info("rag ready", "collections", svc.Collections(), "embedder", emb.ModelID(), "store", cfg.Store,
		"store_collection", collection, "reuse_lookup_vector", lookup != "")
	return svc, nil
}

// registerRAGAdmin adds the document-ingestion endpoints to the admin
// listener.
func (s *service) registerRAGAdmin(mux *http.ServeMux) {
	svc := s.rag
	if svc == nil {
		off := func(w http.ResponseWriter, r *http.Request) {
			httpapi.WriteError(w, http.StatusNotFound, "RAG is off: define rag.collections in the config file (and keep --rag on)",
				httpapi.TypeInvalidRequest, "", "not_found")
		}
		mux.HandleFunc("/admin/rag", off)
		mux.HandleFunc("/admin/rag/", off)
		return
	}
	svc.Register(mux, rag.AdminOptions{Token: s.cfg.AdminToken, Logger: s.log})
}
