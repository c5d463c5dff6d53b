package memory

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzSnapshot feeds corrupted snapshots to the reader: it must reject
// them or restore a store whose searches work, never panic or allocate
// without bound.
func FuzzSnapshot(f *testing.F) {
	const dim = 8
	dir := f.TempDir()
	opts := Options{Dir: dir, Dimension: dim, ExactThreshold: 20, Logger: quiet}
	s, err := Open(context.Background(), opts)
	if err != nil {
		f.Fatal(err)
	}
	recs := recordsOf(randomUnit(95, 60, dim), "n", "p", 0)
	for i := range recs {
		if i%3 == 0 {
			recs[i].Meta = map[string]string{"k": "v"}
		}
	}
	upsertAll(f, s, recs)
	if err := s.Delete(context.Background(), []string{idOf(1)}); err != nil {
		f.Fatal(err)
	}
	dbID := s.dbID
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, snapFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(snapMagic))
	q := randomUnit(96, 1, dim)[0]
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), snapFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		o, _ := Options{Dimension: dim, ExactThreshold: 20, Logger: quiet}.withDefaults()
		st := &Store{opts: o, dbID: dbID, byID: map[string]loc{}, spaces: map[string]map[string]*group{}}
		if _, err := st.readSnapshot(context.Background(), path); err != nil {
			if len(st.byID) != 0 || len(st.spaces) != 0 {
				t.Fatal("a rejected snapshot left state behind")
			}
			return
		}
		// Accepted (the CRC matched): every group must be searchable.
		for _, parts := range st.spaces {
			for _, gr := range parts {
				qc := newQueryCode(q, dim)
				qq := &query{vec: q, qc: &qc, k: 3, ef: 16}
				p := &pool{}
				p.reset(3, 2)
				gr.search(qq, new(scratch), p, 20)
				_ = p.final()
			}
		}
	})
}
