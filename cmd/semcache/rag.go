package main

import (
	"context"
	"net/http"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/proxy"
)

// openRAG builds the RAG enricher from the config; nil when RAG is off.
func (s *service) openRAG(ctx context.Context, sem *semantic, c *cache.Cache, m *proxy.Metrics) (proxy.Enricher, error) {
	return nil, nil
}

// registerRAGAdmin adds the document-ingestion endpoints to the admin
// listener.
func (s *service) registerRAGAdmin(mux *http.ServeMux) {}
