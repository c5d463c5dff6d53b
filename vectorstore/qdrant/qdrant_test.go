package qdrant

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	qc "github.com/qdrant/go-client/qdrant"

	"github.com/semcache/semcache/vectorstore"
	"github.com/semcache/semcache/vectorstore/qdrant/qdranttest"
)

func TestOptionsValidate(t *testing.T) {
	valid := Options{Collection: "semcache_v1", Dimension: 384}
	tests := []struct {
		name   string
		tweak  func(*Options)
		wantIn []string
	}{
		{name: "valid", tweak: func(*Options) {}},
		{name: "missing everything", tweak: func(o *Options) { *o = Options{} }, wantIn: []string{"Collection", "Dimension 0"}},
		{name: "slash in collection", tweak: func(o *Options) { o.Collection = "a/b" }, wantIn: []string{`Collection "a/b"`}},
		{name: "URL as host", tweak: func(o *Options) { o.Host = "http://qdrant:6334" }, wantIn: []string{"Host"}},
		{name: "bad port and timeouts", tweak: func(o *Options) { o.Port = 70000; o.RequestTimeout = -1 }, wantIn: []string{"Port 70000", "RequestTimeout"}},
		{name: "negative batch", tweak: func(o *Options) { o.UpsertBatch = -1 }, wantIn: []string{"UpsertBatch"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := valid
			tc.tweak(&o)
			err := o.validate()
			if len(tc.wantIn) == 0 {
				if err != nil {
					t.Fatalf("validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("validate() = nil, want errors mentioning %q", tc.wantIn)
			}
			for _, w := range tc.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("validate() = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestPointIDIsRFC4122Version5(t *testing.T) {
	// Expected values computed independently with Python's uuid.uuid5.
	tests := map[string]string{
		"hello":    "b12171c4-57ac-52c8-b373-e4d1d8313ec3",
		"":         "8d2da741-ac00-5b85-b158-2e1ce5051cca",
		"full/ü:1": "740f9134-835c-5034-92bd-9754ec41f6ee",
	}
	for id, want := range tests {
		if got := PointID(id); got != want {
			t.Errorf("PointID(%q) = %s, want %s", id, got, want)
		}
	}
}

func TestMetaKVIsUnambiguous(t *testing.T) {
	// Pairs whose naive "k=v" joins collide must map to distinct keywords.
	if a, b := metaKV("a=b", "c"), metaKV("a", "b=c"); a == b {
		t.Errorf("metaKV collides: %q", a)
	}
	if a, b := metaKV("a\"", "b"), metaKV("a", "\"b"); a == b {
		t.Errorf("metaKV collides: %q", a)
	}
}

// openFake opens a store on a fresh collection of srv.
func openFake(t *testing.T, srv *qdranttest.Server, dim int, tweak func(*Options)) *Store {
	t.Helper()
	opts := Options{Host: srv.Host(), Port: srv.Port(), Collection: uniqueCollection("t"), Dimension: dim}
	if tweak != nil {
		tweak(&opts)
	}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestOpenUnreachableIsUnavailable(t *testing.T) {
	start := time.Now()
	s, err := Open(context.Background(), Options{Host: "127.0.0.1", Port: freePort(t), Collection: "c", Dimension: 4, ConnectTimeout: 2 * time.Second})
	if err == nil {
		s.Close()
		t.Fatal("Open on a closed port succeeded")
	}
	if !errors.Is(err, vectorstore.ErrUnavailable) || !strings.HasPrefix(err.Error(), "qdrant: ") {
		t.Errorf("Open error = %v, want a qdrant-prefixed ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
}

func TestOpenCreatesOrChecksCollection(t *testing.T) {
	srv := qdranttest.StartServer(t)
	s := openFake(t, srv, 4, nil)
	c, err := qc.NewClient(&qc.Config{Host: srv.Host(), Port: srv.Port(), SkipCompatibilityCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err := c.GetCollectionInfo(t.Context(), s.opts.Collection)
	if err != nil {
		t.Fatal(err)
	}
	if p := info.GetConfig().GetParams().GetVectorsConfig().GetParams(); p.GetSize() != 4 || p.GetDistance() != qc.Distance_Cosine {
		t.Errorf("created collection has %+v, want size 4 cosine", p)
	}
	wantIndexes := map[string]qc.PayloadSchemaType{
		fieldNamespace: qc.PayloadSchemaType_Keyword, fieldPartition: qc.PayloadSchemaType_Keyword,
		fieldMetaKV: qc.PayloadSchemaType_Keyword, fieldExpiresAt: qc.PayloadSchemaType_Integer,
	}
	for f, typ := range wantIndexes {
		if got := info.GetPayloadSchema()[f].GetDataType(); got != typ {
			t.Errorf("payload index %s: %v, want %v", f, got, typ)
		}
	}
	// Reopening with the same dimension shares the data; another dimension fails.
	ctx := t.Context()
	if err := s.Upsert(ctx, []vectorstore.Record{{ID: "a", Namespace: "n", Vector: []float32{1, 0, 0, 0}}}); err != nil {
		t.Fatal(err)
	}
	same, err := Open(ctx, Options{Host: srv.Host(), Port: srv.Port(), Collection: s.opts.Collection, Dimension: 4})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer same.Close()
	if n, err := same.Count(ctx, vectorstore.Filter{Namespace: "n"}); err != nil || n != 1 {
		t.Errorf("Count through a second store = %d, %v; want 1", n, err)
	}
	_, err = Open(ctx, Options{Host: srv.Host(), Port: srv.Port(), Collection: s.opts.Collection, Dimension: 8})
	if !errors.Is(err, vectorstore.ErrDimension) || !strings.Contains(err.Error(), "4-dimensional") {
		t.Errorf("Open with another dimension: %v, want ErrDimension naming 4", err)
	}
}

func TestConcurrentOpenCreatesOnce(t *testing.T) {
	srv := qdranttest.StartServer(t)
	name := uniqueCollection("race")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(context.Background(), Options{Host: srv.Host(), Port: srv.Port(), Collection: name, Dimension: 4})
			errs[i] = err
			if err == nil {
				s.Close()
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
		}
	}
}

func TestPayloadLayout(t *testing.T) {
	srv := qdranttest.StartServer(t)
	s := openFake(t, srv, 2, nil)
	exp := time.UnixMilli(1_900_000_000_123)
	rec := vectorstore.Record{ID: "id/1", Namespace: "ns", Partition: "p", Vector: []float32{1, 0},
		Meta: map[string]string{"doc": "d=1"}, Payload: []byte{0, 1, 2, 255}, ExpiresAt: exp}
	if err := s.Upsert(t.Context(), []vectorstore.Record{rec, {ID: "bare", Namespace: "ns", Vector: []float32{0, 1}}}); err != nil {
		t.Fatal(err)
	}
	c, err := qc.NewClient(&qc.Config{Host: srv.Host(), Port: srv.Port(), SkipCompatibilityCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pts, err := c.Get(t.Context(), &qc.GetPoints{CollectionName: s.opts.Collection,
		Ids: []*qc.PointId{qc.NewID(PointID("id/1")), qc.NewID(PointID("bare"))}, WithPayload: qc.NewWithPayload(true)})
	if err != nil || len(pts) != 2 {
		t.Fatalf("Get = %v, %v", pts, err)
	}
	p := pts[0].GetPayload()
	if pts[0].GetId().GetUuid() != PointID("id/1") {
		p = pts[1].GetPayload()
	}
	checks := map[string]bool{
		"sc_id":      p[fieldID].GetStringValue() == "id/1",
		"namespace":  p[fieldNamespace].GetStringValue() == "ns",
		"partition":  p[fieldPartition].GetStringValue() == "p",
		"meta":       p[fieldMeta].GetStructValue().GetFields()["doc"].GetStringValue() == "d=1",
		"meta_kv":    len(p[fieldMetaKV].GetListValue().GetValues()) == 1 && p[fieldMetaKV].GetListValue().GetValues()[0].GetStringValue() == `"doc"=d=1`,
		"payload":    p[fieldPayload].GetStringValue() == base64.StdEncoding.EncodeToString(rec.Payload),
		"expires_at": p[fieldExpiresAt].GetIntegerValue() == 1_900_000_000_123,
	}
	for f, ok := range checks {
		if !ok {
			t.Errorf("payload field %s wrong: %v", f, p[f])
		}
	}
	bare := pts[1].GetPayload()
	if pts[1].GetId().GetUuid() != PointID("bare") {
		bare = pts[0].GetPayload()
	}
	for _, f := range []string{fieldPayload, fieldExpiresAt} {
		if _, ok := bare[f]; ok {
			t.Errorf("bare record has %s = %v, want it absent", f, bare[f])
		}
	}
}

func TestUnavailableWhileDownThenRecovers(t *testing.T) {
	srv := qdranttest.StartServer(t)
	s := openFake(t, srv, 2, nil)
	ctx := t.Context()
	f := vectorstore.Filter{Namespace: "n"}
	if err := s.Upsert(ctx, []vectorstore.Record{{ID: "a", Namespace: "n", Vector: []float32{1, 0}}}); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	srv.Stop()
	ops := map[string]func() error{
		"Upsert": func() error {
			return s.Upsert(ctx, []vectorstore.Record{{ID: "b", Namespace: "n", Vector: []float32{0, 1}}})
		},
		"Search": func() error {
			_, err := s.Search(ctx, vectorstore.Query{Vector: []float32{1, 0}, K: 1, Filter: f})
			return err
		},
		"Count":  func() error { _, err := s.Count(ctx, f); return err },
		"Delete": func() error { return s.Delete(ctx, []string{"a"}) },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, vectorstore.ErrUnavailable) {
			t.Errorf("%s while down: %v, want ErrUnavailable", name, err)
		}
	}
	if err := srv.Listen(addr); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, err := s.Count(ctx, f)
		if err == nil {
			if n != 1 {
				t.Errorf("Count after recovery = %d, want 1", n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestJanitorDeletesExpired(t *testing.T) {
	srv := qdranttest.StartServer(t)
	s := openFake(t, srv, 2, func(o *Options) { o.JanitorInterval = 30 * time.Millisecond })
	if err := s.Upsert(t.Context(), []vectorstore.Record{
		{ID: "short", Namespace: "n", Vector: []float32{1, 0}, ExpiresAt: time.Now().Add(50 * time.Millisecond)},
		{ID: "forever", Namespace: "n", Vector: []float32{0, 1}},
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.PointCount(s.opts.Collection) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d points, want 1", srv.PointCount(s.opts.Collection))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDeleteWhereCountsLiveRemovesAll(t *testing.T) {
	srv := qdranttest.StartServer(t)
	s := openFake(t, srv, 2, func(o *Options) { o.JanitorInterval = -1 })
	ctx := t.Context()
	var recs []vectorstore.Record
	for i := range 5 {
		r := vectorstore.Record{ID: fmt.Sprint(i), Namespace: "n", Vector: []float32{1, float32(i)}}
		if i < 2 {
			r.ExpiresAt = time.Now().Add(-time.Minute)
		}
		recs = append(recs, r)
	}
	recs = append(recs, vectorstore.Record{ID: "other", Namespace: "m", Vector: []float32{1, 1}})
	if err := s.Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteWhere(ctx, vectorstore.Filter{Namespace: "n"})
	if err != nil || n != 3 {
		t.Errorf("DeleteWhere = %d, %v; want 3 live", n, err)
	}
	if got := srv.PointCount(s.opts.Collection); got != 1 {
		t.Errorf("%d points left, want 1 (expired ones removed too)", got)
	}
}

func TestAPIKeyAndUnauthenticated(t *testing.T) {
	srv := qdranttest.NewServer()
	srv.APIKey = "k3y"
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	s := openFake(t, srv, 2, func(o *Options) { o.APIKey = "k3y" })
	if _, err := s.Count(t.Context(), vectorstore.Filter{Namespace: "n"}); err != nil {
		t.Errorf("Count with the right key: %v", err)
	}
	_, err := Open(t.Context(), Options{Host: srv.Host(), Port: srv.Port(), Collection: "c", Dimension: 2, APIKey: "wrong"})
	if err == nil || errors.Is(err, vectorstore.ErrUnavailable) {
		t.Errorf("Open with a wrong key: %v, want a non-ErrUnavailable error (degrading would hide a misconfiguration)", err)
	}
}

func TestRejectsInvalidUTF8(t *testing.T) {
	srv := qdranttest.StartServer(t)
	s := openFake(t, srv, 2, nil)
	ctx := t.Context()
	bad := "\xff"
	recs := []vectorstore.Record{
		{ID: bad, Namespace: "n", Vector: []float32{1, 0}},
		{ID: "a", Namespace: "n", Vector: []float32{1, 0}, Meta: map[string]string{"k": bad}},
	}
	for _, r := range recs {
		if err := s.Upsert(ctx, []vectorstore.Record{r}); !errors.Is(err, vectorstore.ErrInvalid) {
			t.Errorf("Upsert %+q: %v, want ErrInvalid", r.ID, err)
		}
	}
	if _, err := s.Count(ctx, vectorstore.Filter{Namespace: "n", Partition: &bad}); !errors.Is(err, vectorstore.ErrInvalid) {
		t.Errorf("Count with an invalid partition: %v, want ErrInvalid", err)
	}
}
