package fronttest

import (
	"context"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/vectorstore/memory"
)

// Stack is an engine over a fresh cache, with the simulated upstream
// (behind a Recorder) running: what a front factory wraps its transport
// around.
type Stack struct {
	Sim         *upstream.Server
	Recorder    *Recorder
	UpstreamURL *url.URL // scheme and host of the upstream
	Cache       *cache.Cache
	Metrics     *engine.Metrics
	Engine      *engine.Engine
}

// NewStack builds a Stack for o; everything stops with the test.
func NewStack(t testing.TB, o Options) *Stack {
	t.Helper()
	s := &Stack{Sim: upstream.New(upstream.Options{Answerer: o.Answerer})}
	s.Recorder = &Recorder{Next: Upstream(s.Sim)}
	srv := httptest.NewServer(s.Recorder)
	t.Cleanup(srv.Close)
	s.UpstreamURL, _ = url.Parse(srv.URL)
	copts := cache.Options{Now: o.Now}
	if o.Semantic {
		copts.Semantic = semanticOptions(t)
	}
	c, err := cache.Open(copts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s.Cache = c
	s.Metrics = engine.NewMetrics(prometheus.NewRegistry(), 10, nil)
	var auth *engine.ClientAuth
	if o.ClientKeys != nil {
		if auth, err = engine.NewClientAuth(o.ClientKeys); err != nil {
			t.Fatal(err)
		}
	}
	rules, err := engine.NewRules(o.Rules)
	if err != nil {
		t.Fatal(err)
	}
	s.Engine, err = engine.New(engine.Options{Cache: c, Metrics: s.Metrics, Enricher: o.Enricher, SourcesField: o.SourcesField,
		ClientAuth: auth, Rules: rules, Now: o.Now, Answers: o.Answers})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// semanticOptions is the similarity tier of a default serve: the lexical
// embedder with its evaluated threshold and verifier (cache/simtier, as
// semcache serve builds it) over the memory store.
func semanticOptions(t testing.TB) *cache.SemanticOptions {
	emb, err := lexical.New(lexical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := memory.Open(context.Background(), memory.Options{Dimension: emb.Dimension()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o, err := simtier.Options(simtier.Config{Embedder: emb, Index: st, Kind: "lexical"})
	if err != nil {
		t.Fatal(err)
	}
	return &o
}
