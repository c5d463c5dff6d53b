package rag

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/rag/chunk"
	"github.com/semcache/semcache/vectorstore"
	"github.com/semcache/semcache/vectorstore/memory"
	"github.com/semcache/semcache/wire/chat"
)

// synthText writes a document of sections of pseudo-words.
func synthText(r *rand.Rand, vocab []string, sections, words int) string {
	var b strings.Builder
	for s := range sections {
		fmt.Fprintf(&b, "## Section %d %s\n\n", s, vocab[r.IntN(len(vocab))])
		for w := range words {
			b.WriteString(vocab[r.IntN(len(vocab))])
			if w%12 == 11 {
				b.WriteString(". ")
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString("\n\n")
	}
	return b.String()
}

func synthVocab(r *rand.Rand, n int) []string {
	letters := "abcdefghijklmnopqrstuvwxyz"
	vocab := make([]string, n)
	for i := range vocab {
		w := make([]byte, 3+r.IntN(8))
		for j := range w {
			w[j] = letters[r.IntN(len(letters))]
		}
		vocab[i] = string(w)
	}
	return vocab
}

// BenchmarkRetrieveInject10k measures what RAG adds to a cache miss with
// the embedded store, excluding the embedding (the lookup's vector is
// reused): search a 10,000-chunk collection, render the template, splice
// the body. It reports the median per call as p50-ns.
func BenchmarkRetrieveInject10k(b *testing.B) {
	ctx := context.Background()
	emb, err := lexical.New(lexical.Options{})
	if err != nil {
		b.Fatal(err)
	}
	st, err := memory.Open(ctx, memory.Options{Dimension: emb.Dimension()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc, err := New(ctx, Options{Store: st, Embedder: emb, LookupModel: emb.ModelID(),
		Collections: []Collection{{Name: "docs", Namespaces: []string{"*"}, K: 4, MinScore: f32(0.1)}},
		Chunking:    chunk.Options{Size: 600}})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	r := rand.New(rand.NewPCG(1, 2))
	vocab := synthVocab(r, 5000)
	var texts []string
	for d := 0; ; d++ {
		n, _ := st.Count(ctx, vectorstore.Filter{Namespace: "docs"})
		if n >= 10000 {
			break
		}
		text := synthText(r, vocab, 10, 80)
		texts = append(texts, text)
		if _, err := svc.Ingest(ctx, "docs", Document{ID: fmt.Sprintf("doc-%d.md", d), Content: text}); err != nil {
			b.Fatal(err)
		}
	}
	// Queries: a sentence lifted from a random document.
	const nq = 256
	reqs := make([]*cacheRequest, nq)
	for i := range reqs {
		words := strings.Fields(texts[r.IntN(len(texts))])
		start := r.IntN(len(words) - 10)
		q := strings.Join(words[start:start+8], " ")
		vecs, _ := emb.Embed(ctx, []string{q})
		reqs[i] = &cacheRequest{req: request(b, `{"model":"m","temperature":0,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"`+q+`"}]}`), vec: vecs[0]}
	}
	durs := make([]time.Duration, 0, b.N)
	injected := 0
	b.ResetTimer()
	i := 0
	for b.Loop() {
		c := reqs[i%nq]
		i++
		start := time.Now()
		enr, err := svc.Enrich(ctx, "tenant:x", c.req, c.vec)
		durs = append(durs, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if enr.Body != nil {
			injected++
		}
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(injected)/float64(len(durs)), "injected/op")
}

type cacheRequest struct {
	req *chat.Request
	vec []float32
}

// BenchmarkIngest measures ingest throughput (lexical embedder, embedded
// store; in memory and durable on disk) in chunks per second.
func BenchmarkIngest(b *testing.B) {
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprintf("durable=%t", durable), func(b *testing.B) {
			ctx := context.Background()
			emb, err := lexical.New(lexical.Options{})
			if err != nil {
				b.Fatal(err)
			}
			dir := ""
			if durable {
				dir = filepath.Join(b.TempDir(), "vectors")
			}
			st, err := memory.Open(ctx, memory.Options{Dir: dir, Dimension: emb.Dimension(), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			svc, err := New(ctx, Options{Store: st, Embedder: emb, Chunking: chunk.Options{Size: 600},
				Collections: []Collection{{Name: "docs", Namespaces: []string{"*"}}}})
			if err != nil {
				b.Fatal(err)
			}
			defer svc.Close()
			r := rand.New(rand.NewPCG(3, 4))
			vocab := synthVocab(r, 5000)
			docs := make([]string, 64)
			for i := range docs {
				docs[i] = synthText(r, vocab, 10, 80)
			}
			chunks := 0
			start := time.Now()
			i := 0
			for b.Loop() {
				res, err := svc.Ingest(ctx, "docs", Document{ID: fmt.Sprintf("doc-%d.md", i), Content: docs[i%len(docs)]})
				i++
				if err != nil {
					b.Fatal(err)
				}
				chunks += res.Chunks
			}
			b.ReportMetric(float64(chunks)/time.Since(start).Seconds(), "chunks/s")
			b.ReportMetric(float64(chunks)/float64(i), "chunks/doc")
		})
	}
}
