package memory

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/semcache/semcache/vectorstore"
)

// TestLoadInBackground: Open returns before the load; until it finishes
// Search fails fast with ErrUnavailable, Count and writes wait (bounded by
// their context), Ready is false; then everything works.
func TestLoadInBackground(t *testing.T) {
	const dim = 16
	dir := t.TempDir()
	opts := Options{Dir: dir, Dimension: dim, ExactThreshold: 100, Logger: quiet}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	vs := randomUnit(80, 500, dim)
	upsertAll(t, s, recordsOf(vs, "n", "", 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	release := make(chan struct{})
	opts.LoadInBackground = true
	opts.beforeLoad = func(ctx context.Context) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	s, err = Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if s.Ready() {
		t.Fatal("Ready before the load ran")
	}
	q := vectorstore.Query{Vector: vs[3], K: 1, Filter: vectorstore.Filter{Namespace: "n"}}
	if _, err := s.Search(ctx, q); !errors.Is(err, vectorstore.ErrUnavailable) {
		t.Errorf("Search while loading: err = %v, want ErrUnavailable", err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.Count(short, vectorstore.Filter{Namespace: "n"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Count while loading: err = %v, want the context's deadline", err)
	}
	if err := s.Upsert(short, recordsOf(vs[:1], "n", "", 0)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Upsert while loading: err = %v, want the context's deadline", err)
	}
	if err := s.WaitReady(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitReady while loading: err = %v", err)
	}
	// A write queued during the load lands after it.
	wrote := make(chan error, 1)
	go func() { wrote <- s.Upsert(ctx, recordsOf(randomUnit(81, 1, dim), "n", "", 500)) }()
	close(release)
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !s.Ready() {
		t.Error("not Ready after WaitReady")
	}
	hits, err := s.Search(ctx, q)
	if err != nil || len(hits) != 1 || hits[0].Record.ID != idOf(3) {
		t.Fatalf("Search after the load: %v, %v", hitIDs(hits), err)
	}
	if n, err := s.Count(ctx, vectorstore.Filter{Namespace: "n"}); err != nil || n != 501 {
		t.Errorf("Count = %d, %v; want 501", n, err)
	}
}

// TestCloseWhileLoading: Close during a background load cancels it and
// returns; the store is closed.
func TestCloseWhileLoading(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, Dimension: 8, Logger: quiet, LoadInBackground: true}
	opts.beforeLoad = func(ctx context.Context) { <-ctx.Done() }
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs while loading")
	}
	if err := s.WaitReady(t.Context()); err == nil {
		t.Error("WaitReady after Close during the load reports success")
	}
	if _, err := s.Search(t.Context(), vectorstore.Query{Vector: make([]float32, 8), K: 1}); err == nil {
		t.Error("Search on a closed store succeeded")
	}
	// The database was released.
	opts.LoadInBackground, opts.beforeLoad = false, nil
	s, err = Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// mutate applies a mixed batch of changes to s and to the model live
// (ID → vector), across groups, including a new group and a move.
func mutate(t *testing.T, s *Store, live map[string][]float32, part map[string]string, seed uint64) {
	t.Helper()
	ctx := t.Context()
	dim := s.opts.Dimension
	fresh := randomUnit(seed, 300, dim)
	var recs []vectorstore.Record
	for i := range 100 { // replace
		id := idOf(i*3 + int(seed%3))
		recs = append(recs, vectorstore.Record{ID: id, Vector: fresh[i], Namespace: "n", Partition: part[id]})
		live[id] = fresh[i]
	}
	for i := range 100 { // add, some into a new group
		id := idOf(10_000 + int(seed)*1000 + i)
		p := "a"
		if i%4 == 0 {
			p = "new"
		}
		recs = append(recs, vectorstore.Record{ID: id, Vector: fresh[100+i], Namespace: "n", Partition: p})
		live[id], part[id] = fresh[100+i], p
	}
	for i := range 10 { // move to another group
		id := idOf(500 + i + int(seed))
		recs = append(recs, vectorstore.Record{ID: id, Vector: fresh[200+i], Namespace: "n", Partition: "moved"})
		live[id], part[id] = fresh[200+i], "moved"
	}
	upsertAll(t, s, recs)
	var del []string
	for i := range 50 {
		id := idOf(700 + i*5 + int(seed))
		if _, ok := live[id]; ok {
			del = append(del, id)
			delete(live, id)
		}
	}
	if err := s.Delete(ctx, del); err != nil {
		t.Fatal(err)
	}
}

// checkModel verifies that s holds exactly the live records: every one is
// its own nearest neighbour in its partition with score 1, and counts
// match.
func checkModel(t *testing.T, s *Store, live map[string][]float32, part map[string]string) {
	t.Helper()
	ctx := t.Context()
	n, err := s.Count(ctx, vectorstore.Filter{Namespace: "n"})
	if err != nil || n != len(live) {
		t.Fatalf("Count = %d, %v; want %d", n, err, len(live))
	}
	for id, v := range live {
		hits, err := s.Search(ctx, vectorstore.Query{Vector: v, K: 1, MinScore: -1,
			Filter: vectorstore.Filter{Namespace: "n", Partition: vectorstore.PartitionOf(part[id])}})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 || hits[0].Record.ID != id || hits[0].Score < 0.9999 {
			t.Fatalf("%s not found by its own vector in %q: %v", id, part[id], hitIDs(hits))
		}
	}
}

// TestReplayAfterCrash: a snapshot, then changes of every kind, then a
// crash: Open restores the snapshot and replays exactly the log after it.
func TestReplayAfterCrash(t *testing.T) {
	const dim = 16
	dir := t.TempDir()
	opts := Options{Dir: dir, Dimension: dim, ExactThreshold: 200, Logger: quiet}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	live, part := map[string][]float32{}, map[string]string{}
	vs := randomUnit(90, 2000, dim)
	recs := recordsOf(vs, "n", "a", 0)
	for i := range recs {
		if i%2 == 1 {
			recs[i].Partition = "b"
		}
		live[recs[i].ID], part[recs[i].ID] = vs[i], recs[i].Partition
	}
	upsertAll(t, s, recs)
	s.writeMu.Lock()
	if err := s.saveSnapshot(); err != nil {
		t.Fatal(err)
	}
	s.writeMu.Unlock()
	mutate(t, s, live, part, 1)
	crash(t, s)

	s, err = Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if li := s.loadInfo; li.fullScan || li.fromSnapshot != 2000 || li.replayed != 100+100+10+50 {
		t.Errorf("load stats %+v: want 2000 from the snapshot, 260 replayed", li)
	}
	checkModel(t, s, live, part)
	for _, p := range []string{"a", "b"} {
		checkGraphInvariants(t, s.spaces["n"][p])
	}
	// A clean Close snapshots and prunes the log.
	mutate(t, s, live, part, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(filepath.Join(dir, dbFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logN int
	var seq, from uint64
	_ = db.View(func(tx *bbolt.Tx) error {
		logN = tx.Bucket(bucketLog).Stats().KeyN
		seq = getSeq(tx.Bucket(bucketMeta).Get(keySeq))
		from = getSeq(tx.Bucket(bucketMeta).Get(keyLogFrom))
		return nil
	})
	db.Close()
	if logN != 0 || from != seq+1 {
		t.Errorf("after Close: %d log entries, log from %d, seq %d; want none, from seq+1", logN, from, seq)
	}
	s, err = Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if li := s.loadInfo; li.fullScan || li.replayed != 0 {
		t.Errorf("load stats %+v after a clean Close", li)
	}
	checkModel(t, s, live, part)
}

// TestSnapshotRejected: a snapshot that does not fit the database (of
// another database, or older than the log reaches back, or from a
// version before the log) is ignored and every record is read.
func TestSnapshotRejected(t *testing.T) {
	const dim = 8
	tests := []struct {
		name  string
		spoil func(t *testing.T, dir, other, stale string)
	}{
		{"other database", func(t *testing.T, dir, other, stale string) {
			copyFile(t, filepath.Join(other, snapFile), filepath.Join(dir, snapFile))
		}},
		{"older than the log", func(t *testing.T, dir, other, stale string) {
			copyFile(t, stale, filepath.Join(dir, snapFile))
		}},
		{"database before the log", func(t *testing.T, dir, other, stale string) {
			db, err := bbolt.Open(filepath.Join(dir, dbFile), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := db.Update(func(tx *bbolt.Tx) error {
				if err := tx.DeleteBucket(bucketLog); err != nil {
					return err
				}
				return tx.Bucket(bucketMeta).Delete(keyLogFrom)
			}); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, snapFile), []byte("SCHNSW01 an old graph snapshot"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, other := t.TempDir(), t.TempDir()
			opts := Options{Dir: dir, Dimension: dim, ExactThreshold: 100, Logger: quiet}
			o2 := opts
			o2.Dir = other
			s2, err := Open(t.Context(), o2)
			if err != nil {
				t.Fatal(err)
			}
			upsertAll(t, s2, recordsOf(randomUnit(91, 300, dim), "n", "a", 0))
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}

			s, err := Open(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			live, part := map[string][]float32{}, map[string]string{}
			vs := randomUnit(92, 1000, dim)
			for i, r := range recordsOf(vs, "n", "a", 0) {
				live[r.ID], part[r.ID] = vs[i], "a"
			}
			upsertAll(t, s, recordsOf(vs, "n", "a", 0))
			s.writeMu.Lock()
			if err := s.saveSnapshot(); err != nil {
				t.Fatal(err)
			}
			s.writeMu.Unlock()
			stale := filepath.Join(t.TempDir(), "stale")
			copyFile(t, filepath.Join(dir, snapFile), stale)
			mutate(t, s, live, part, 3)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			tc.spoil(t, dir, other, stale)

			s, err = Open(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !s.loadInfo.fullScan {
				t.Errorf("load stats %+v: the snapshot was used", s.loadInfo)
			}
			waitBuilt(t, s)
			checkModel(t, s, live, part)
			if s.spaces["n"]["a"].g == nil {
				t.Error("no graph rebuilt")
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotRoundTripsMeta: meta maps, expiry and free slots survive
// the snapshot exactly.
func TestSnapshotRoundTripsMeta(t *testing.T) {
	const dim = 8
	dir := t.TempDir()
	opts := Options{Dir: dir, Dimension: dim, ExactThreshold: 50, Logger: quiet}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	vs := randomUnit(93, 200, dim)
	recs := recordsOf(vs, "n", "", 0)
	exp := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	for i := range recs {
		if i%3 == 0 {
			recs[i].Meta = map[string]string{"k": "v" + idOf(i%7), "x": ""}
		}
		if i%4 == 0 {
			recs[i].ExpiresAt = exp
		}
	}
	upsertAll(t, s, recs)
	if err := s.Delete(t.Context(), []string{idOf(5), idOf(6)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.loadInfo.fullScan {
		t.Fatalf("snapshot not used: %+v", s.loadInfo)
	}
	for i, r := range recs {
		hits, err := s.Search(t.Context(), vectorstore.Query{Vector: r.Vector, K: 1, MinScore: 0.9999, Filter: vectorstore.Filter{Namespace: "n", Meta: r.Meta}})
		if err != nil {
			t.Fatal(err)
		}
		if i == 5 || i == 6 {
			if len(hits) > 0 && hits[0].Record.ID == r.ID {
				t.Errorf("deleted %s came back", r.ID)
			}
			continue
		}
		if len(hits) != 1 || hits[0].Record.ID != r.ID {
			t.Fatalf("%s: %v", r.ID, hitIDs(hits))
		}
		h := hits[0].Record
		if len(h.Meta) != len(r.Meta) || !h.ExpiresAt.Equal(r.ExpiresAt) {
			t.Errorf("%s: meta %v expires %v; want %v, %v", r.ID, h.Meta, h.ExpiresAt, r.Meta, r.ExpiresAt)
		}
	}
	gr := s.spaces["n"][""]
	if gr.live != 198 || len(gr.free) != 2 || !slices.Contains(gr.free, 5) || !slices.Contains(gr.free, 6) {
		t.Errorf("live %d, free slots %v; want 198 live, slots 5 and 6 free", gr.live, gr.free)
	}
}
