package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/semcache/semcache/vectorstore"
)

func TestWaitIndexedAfterBackgroundBuild(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := Open(ctx, Options{Dir: dir, Dimension: 8, ExactThreshold: 10})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]vectorstore.Record, 300)
	for i := range recs {
		v := make([]float32, 8)
		for j := range v {
			v[j] = rng.Float32() - 0.5
		}
		recs[i] = vectorstore.Record{ID: fmt.Sprint(i), Vector: v, Namespace: "ns"}
	}
	if err := st.Upsert(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := st.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Reopen: whatever is built in the background must be waitable too.
	st, err = Open(ctx, Options{Dir: dir, Dimension: 8, ExactThreshold: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := st.WaitIndexed(wctx); err != nil {
		t.Fatal(err)
	}
	hits, err := st.Search(ctx, vectorstore.Query{Vector: recs[7].Vector, K: 1, Filter: vectorstore.Filter{Namespace: "ns"}})
	if err != nil || len(hits) != 1 || hits[0].Record.ID != "7" {
		t.Fatalf("search after WaitIndexed: %v %v", hits, err)
	}
	cancelled, stop := context.WithCancel(ctx)
	stop()
	_ = st.WaitIndexed(cancelled) // must return, whatever the state
}
