package rag

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/rag/chunk"
	"github.com/semcache/semcache/vectorstore"
	"github.com/semcache/semcache/vectorstore/memory"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/chat"
)

// fakePurger records purged ids.
type fakePurger struct {
	mu  sync.Mutex
	ids []string
	err error
}

func (p *fakePurger) PurgeSources(_ context.Context, ids []string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return 0, p.err
	}
	p.ids = append(p.ids, ids...)
	return len(ids), nil
}

type env struct {
	svc   *Service
	store *memory.Store
	emb   *lexical.Embedder
}

func f32(v float32) *float32 { return &v }

var testCollections = []Collection{
	{Name: "handbook", Namespaces: []string{"acme"}, MinScore: f32(0.05), K: 2},
	{Name: "secrets", Namespaces: []string{"tenant:globex"}, MinScore: f32(0.05)},
	{Name: "public", Namespaces: []string{"*"}, MinScore: f32(0.05), Disabled: true},
}

func newEnv(t testing.TB, o Options) *env {
	t.Helper()
	ctx := context.Background()
	emb, err := lexical.New(lexical.Options{Dimension: 256})
	if err != nil {
		t.Fatal(err)
	}
	st := o.Store
	if st == nil {
		ms, err := memory.Open(ctx, memory.Options{Dimension: emb.Dimension()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ms.Close() })
		o.Store = ms
	}
	o.Embedder = emb
	if o.Collections == nil {
		o.Collections = testCollections
	}
	svc, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	ms, _ := o.Store.(*memory.Store)
	return &env{svc: svc, store: ms, emb: emb}
}

const handbookV1 = `# Employee handbook

## Vacation

Employees get 25 vacation days per year. Unused days expire in March.

## Expenses

Submit expense reports within 30 days through the finance portal.
`

func TestIngestLifecycle(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { testLifecycle(t, b.open(t)) })
	}
}

func testLifecycle(t *testing.T, store vectorstore.Store) {
	ctx := context.Background()
	p := &fakePurger{}
	e := newEnv(t, Options{Store: store, Purger: p, Chunking: chunkOpts(120)})
	svc := e.svc
	doc := Document{ID: "hr/handbook.md", Source: "docs/hr/handbook.md", Content: handbookV1}

	v0 := svc.Version("tenant:acme")
	res, err := svc.Ingest(ctx, "handbook", doc)
	if err != nil || res.Status != StatusIngested || res.Chunks < 2 {
		t.Fatalf("first ingest: %+v, %v", res, err)
	}
	v1 := svc.Version("tenant:acme")
	if v1 == v0 || !strings.Contains(v1, "handbook@"+res.Version) {
		t.Fatalf("version did not change: %q -> %q (result %q)", v0, v1, res.Version)
	}
	if len(p.ids) != 0 {
		t.Fatalf("a new document purged %v", p.ids)
	}

	again, err := svc.Ingest(ctx, "handbook", doc)
	if err != nil || again.Status != StatusUnchanged || again.Chunks != res.Chunks {
		t.Fatalf("re-ingest unchanged: %+v, %v", again, err)
	}
	if svc.Version("tenant:acme") != v1 {
		t.Fatal("an unchanged document changed the version")
	}

	// A shorter new version replaces every chunk and purges the old ids.
	doc.Content = "# Employee handbook\n\nEmployees get 30 vacation days per year."
	changed, err := svc.Ingest(ctx, "handbook", doc)
	if err != nil || changed.Status != StatusIngested || changed.Chunks != 1 {
		t.Fatalf("changed: %+v, %v", changed, err)
	}
	if svc.Version("tenant:acme") == v1 {
		t.Fatal("a changed document kept the version")
	}
	want := chunkIDs("handbook", "hr/handbook.md", res.Chunks)
	if !slices.Equal(p.ids, want) {
		t.Fatalf("purged %v, want %v", p.ids, want)
	}
	st, err := svc.Stats(ctx, "handbook")
	if err != nil || st.Documents != 1 || st.Chunks != 1 || st.Version != changed.Version || !st.Configured {
		t.Fatalf("stats: %+v, %v", st, err)
	}

	del, err := svc.Delete(ctx, "handbook", "hr/handbook.md")
	if err != nil || del.Status != StatusDeleted || del.Chunks != 1 {
		t.Fatalf("delete: %+v, %v", del, err)
	}
	if st, _ := svc.Stats(ctx, "handbook"); st.Documents != 0 || st.Chunks != 0 {
		t.Fatalf("after delete: %+v", st)
	}
	if _, err := svc.Delete(ctx, "handbook", "hr/handbook.md"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}

	// Retrieval respects bindings on this backend too.
	if _, err := svc.Ingest(ctx, "handbook", Document{ID: "h.md", Content: handbookV1}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Ingest(ctx, "secrets", Document{ID: "s", Content: "The vacation launch code is 0000."}); err != nil {
		t.Fatal(err)
	}
	req := request(t, `{"model":"m","messages":[{"role":"user","content":"How many vacation days do employees get?"}]}`)
	enr, err := svc.Enrich(ctx, "tenant:acme", req, nil)
	if err != nil || !strings.Contains(string(enr.Body), "25 vacation days") || strings.Contains(string(enr.Body), "launch code") {
		t.Fatalf("enrich: %s, %v", enr.Body, err)
	}
	// A second service on the same store (another replica) sees the
	// versions.
	other := newEnv(t, Options{Store: store})
	if got, want := other.svc.Version("acme"), svc.Version("acme"); got != want {
		t.Fatalf("replica version %q, want %q", got, want)
	}
}

func chunkOpts(size int) chunk.Options { return chunk.Options{Size: size, Overlap: -1} }

func TestIngestBadDocuments(t *testing.T) {
	e := newEnv(t, Options{MaxDocBytes: 100})
	tests := []struct {
		name string
		coll string
		doc  Document
		want error
	}{
		{"empty", "handbook", Document{ID: "a", Content: "  \n "}, ErrEmpty},
		{"empty html", "handbook", Document{ID: "a.html", Content: "<html><script>x()</script></html>"}, ErrEmpty},
		{"too large", "handbook", Document{ID: "a", Content: strings.Repeat("x", 101)}, ErrTooLarge},
		{"no id", "handbook", Document{Content: "text"}, ErrInvalid},
		{"not utf-8", "handbook", Document{ID: "a", Content: "\xff\xfe"}, ErrInvalid},
		{"bad format", "handbook", Document{ID: "a", Content: "x", Format: "pdf"}, ErrInvalid},
		{"bad collection", "Bad Name", Document{ID: "a", Content: "x"}, ErrUnknownCollection},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.svc.Ingest(context.Background(), tt.coll, tt.doc)
			if !errors.Is(err, tt.want) || res.Status != StatusFailed {
				t.Fatalf("Ingest = %+v, %v; want %v", res, err, tt.want)
			}
		})
	}
}

func TestPendingPurges(t *testing.T) {
	ctx := context.Background()
	ms, err := memory.Open(ctx, memory.Options{Dimension: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	// An offline ingest (no purger) records what to purge.
	off := newEnv(t, Options{Store: ms, Chunking: chunkOpts(120)})
	doc := Document{ID: "h", Content: handbookV1}
	first, _ := off.svc.Ingest(ctx, "handbook", doc)
	doc.Content += "\nOne more line.\n"
	second, err := off.svc.Ingest(ctx, "handbook", doc)
	if err != nil || second.Purged != 0 {
		t.Fatalf("offline re-ingest: %+v, %v", second, err)
	}
	// The next server applies them once, and sees the new version.
	p := &fakePurger{}
	server := newEnv(t, Options{Store: ms, Purger: p})
	if v := server.svc.Version("acme"); v != "rag;handbook@"+second.Version {
		t.Fatalf("server version %q, want the offline ingest's %q", v, second.Version)
	}
	if want := chunkIDs("handbook", "h", first.Chunks); !slices.Equal(p.ids, want) {
		t.Fatalf("applied purges %v, want %v", p.ids, want)
	}
	p2 := &fakePurger{}
	newEnv(t, Options{Store: ms, Purger: p2})
	if len(p2.ids) != 0 {
		t.Fatalf("purges applied twice: %v", p2.ids)
	}
}

func TestVersionBindings(t *testing.T) {
	e := newEnv(t, Options{})
	tests := []struct {
		ns   string
		want string
	}{
		{"tenant:acme", "rag;handbook@empty"},
		{"acme", "rag;handbook@empty"},
		{"tenant:globex", "rag;secrets@empty"},
		{"globex", ""}, // bound as "tenant:globex" only
		{"key:0123", ""},
		{"tenant:other", ""},
	}
	for _, tt := range tests {
		if got := e.svc.Version(tt.ns); got != tt.want {
			t.Errorf("Version(%q) = %q, want %q", tt.ns, got, tt.want)
		}
	}
}

func request(t testing.TB, body string) *chat.Request {
	t.Helper()
	req, err := chat.ParseRequest([]byte(body), wire.PromptLastMessage)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// injected returns the messages of an enriched body.
func injected(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var b struct {
		Messages []map[string]any `json:"messages"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("enriched body is not JSON: %v\n%s", err, body)
	}
	return b.Messages
}

func TestEnrichTenantsAndReuse(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, Options{Chunking: chunkOpts(120)})
	if _, err := e.svc.Ingest(ctx, "handbook", Document{ID: "h.md", Content: handbookV1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Ingest(ctx, "secrets", Document{ID: "s", Content: "The vacation launch code is 0000."}); err != nil {
		t.Fatal(err)
	}
	req := request(t, `{"model":"m","messages":[{"role":"user","content":"How many vacation days do employees get?"}]}`)

	enr, err := e.svc.Enrich(ctx, "tenant:acme", req, nil)
	if err != nil || enr.Body == nil {
		t.Fatalf("enrich: %+v, %v", enr, err)
	}
	msgs := injected(t, enr.Body)
	if len(msgs) != 2 || msgs[0]["role"] != "system" || !strings.Contains(msgs[0]["content"].(string), "25 vacation days") {
		t.Fatalf("injected messages: %v", msgs)
	}
	if strings.Contains(string(enr.Body), "launch code") {
		t.Fatal("tenant acme retrieved globex's collection")
	}
	if len(enr.Sources) == 0 || !strings.HasPrefix(enr.Sources[0], "handbook/h.md#") || enr.Version != e.svc.Version("acme") {
		t.Fatalf("sources %v version %q", enr.Sources, enr.Version)
	}

	// globex only sees its own collection.
	g, err := e.svc.Enrich(ctx, "tenant:globex", req, nil)
	if err != nil || !strings.Contains(string(g.Body), "launch code") || strings.Contains(string(g.Body), "25 vacation") {
		t.Fatalf("globex: %s, %v", g.Body, err)
	}
	// An unbound namespace gets nothing.
	if n, err := e.svc.Enrich(ctx, "key:abc", req, nil); err != nil || n.Body != nil {
		t.Fatalf("unbound: %+v, %v", n, err)
	}
}

func TestEnrichReusesLookupVector(t *testing.T) {
	ctx := context.Background()
	emb, _ := lexical.New(lexical.Options{Dimension: 256})
	tests := []struct {
		name        string
		lookupModel string
		wantReuse   bool
	}{
		{"same model", emb.ModelID(), true},
		{"other model", "other-model", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{LookupModel: tt.lookupModel})
			if _, err := e.svc.Ingest(ctx, "handbook", Document{ID: "a", Content: "Alpha passage about apples."}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Ingest(ctx, "handbook", Document{ID: "b", Content: "Beta passage about bananas."}); err != nil {
				t.Fatal(err)
			}
			req := request(t, `{"model":"m","messages":[{"role":"user","content":"Tell me about apples"}]}`)
			// A vector pointing at the banana passage: only a reused
			// vector retrieves it first.
			vecs, _ := emb.Embed(ctx, []string{"Beta passage about bananas."})
			enr, err := e.svc.Enrich(ctx, "acme", req, vecs[0])
			if err != nil || len(enr.Sources) == 0 {
				t.Fatalf("enrich: %+v, %v", enr, err)
			}
			if got := enr.Sources[0] == "handbook/b#0"; got != tt.wantReuse {
				t.Fatalf("first source %s; reuse = %v, want %v", enr.Sources[0], got, tt.wantReuse)
			}
		})
	}
}

func TestEnrichNothingRetrieved(t *testing.T) {
	ctx := context.Background()
	high := []Collection{{Name: "handbook", Namespaces: []string{"*"}, MinScore: f32(0.99)}}
	e := newEnv(t, Options{Collections: high})
	if _, err := e.svc.Ingest(ctx, "handbook", Document{ID: "a", Content: "Something unrelated entirely."}); err != nil {
		t.Fatal(err)
	}
	req := request(t, `{"model":"m","messages":[{"role":"user","content":"vacation days"}]}`)
	enr, err := e.svc.Enrich(ctx, "anyone", req, nil)
	if err != nil || enr.Body != nil || enr.Sources != nil {
		t.Fatalf("below the floor: %+v, %v", enr, err)
	}
}
