package cache

import (
	"bytes"
	"context"
	"testing"
)

// TestBudgetStoreWithEntries: an entry's learned state survives a restart
// (written when the cache closes), is deleted with its entry, and the
// namespace states come back.
func TestBudgetStoreWithEntries(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c, err := Open(Options{MaxBytes: 1 << 20, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	kept := c.Put(lookup(t, "a", "kept"), answer, nil, 0, nil)
	gone := c.Put(lookup(t, "a", "gone"), answer, nil, 0, nil)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s := c.BudgetStore()
	for _, e := range []*Entry{kept, gone} {
		if err := s.SaveEntry(e.Key, []byte("state of "+e.Prompt)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveNamespace("a", []byte("ns state")); err != nil {
		t.Fatal(err)
	}
	if b, err := s.LoadEntry(kept.Key); err != nil || string(b) != "state of kept" {
		t.Fatalf("read back = %q, %v", b, err)
	}
	if ok, err := c.DeleteEntry(ctx, "a", gone.ID); !ok || err != nil {
		t.Fatalf("delete = %v, %v", ok, err)
	}
	if b, _ := s.LoadEntry(gone.Key); b != nil {
		t.Fatalf("a deleted entry's state is still read: %q", b)
	}
	// A late label of the deleted entry is kept in memory only.
	if err := s.SaveEntry(gone.Key, []byte("late")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c, err = Open(Options{MaxBytes: 1 << 20, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s = c.BudgetStore()
	if b, err := s.LoadEntry(kept.Key); err != nil || string(b) != "state of kept" {
		t.Fatalf("after a restart = %q, %v", b, err)
	}
	if b, err := s.LoadEntry(gone.Key); err != nil || b != nil {
		t.Fatalf("a deleted entry's state came back: %q, %v", b, err)
	}
	nss, err := s.LoadNamespaces()
	if err != nil || !bytes.Equal(nss["a"], []byte("ns state")) {
		t.Fatalf("namespaces = %q, %v", nss, err)
	}
	if ok, err := c.DeleteEntry(ctx, "a", kept.ID); !ok || err != nil {
		t.Fatalf("delete = %v, %v", ok, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = Open(Options{MaxBytes: 1 << 20, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if b, err := c.BudgetStore().LoadEntry(kept.Key); err != nil || b != nil {
		t.Fatalf("deleted after a restart, its state came back: %q, %v", b, err)
	}
}

// TestBudgetStoreBatches: states are written in batches, not one
// transaction per label; a flush writes what waits.
func TestBudgetStoreBatches(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Options{MaxBytes: 1 << 20, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := c.Put(lookup(t, "a", "q"), answer, nil, 0, nil)
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := c.BudgetStore()
	writes := func() int64 { st := c.disk.db.Stats(); return st.TxStats.GetWrite() }
	before := writes()
	for i := range 100 {
		if err := s.SaveEntry(e.Key, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := writes() - before; n > 10 {
		t.Errorf("100 saves took %d page writes: not batched", n)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	clear(s.mem)
	s.mu.Unlock()
	if b, err := s.LoadEntry(e.Key); err != nil || !bytes.Equal(b, []byte{99}) {
		t.Fatalf("from disk after a flush = %v, %v", b, err)
	}
}
