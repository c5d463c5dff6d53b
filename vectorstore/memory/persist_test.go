package memory

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/semcache/semcache/vectorstore"
)

var quiet = slog.New(slog.DiscardHandler)

// snapshotResults runs queries and returns "id:score" lists to compare
// two stores' answers exactly.
func snapshotResults(t *testing.T, s *Store, queries [][]float32, filters []vectorstore.Filter) []string {
	t.Helper()
	var out []string
	for _, f := range filters {
		for _, q := range queries {
			hits, err := s.Search(t.Context(), vectorstore.Query{Vector: q, K: 8, MinScore: -1, Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, h := range hits {
				fmt.Fprintf(&b, "%s:%.6f:%s:%v ", h.Record.ID, h.Score, h.Record.Payload, h.Record.Meta)
			}
			out = append(out, b.String())
		}
	}
	return out
}

// crash abandons s as a killed process would: no snapshot, no cleanup
// beyond releasing the file lock.
func crash(t *testing.T, s *Store) {
	t.Helper()
	close(s.stop)
	<-s.done
	s.writeMu.Lock()
	s.closed = true
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	s.writeMu.Unlock()
}

func TestPersistReopen(t *testing.T) {
	const dim = 16
	dir := t.TempDir()
	opts := Options{Dir: dir, Dimension: dim, ExactThreshold: 200, Logger: quiet}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	big := recordsOf(randomUnit(20, 1000, dim), "n", "big", 0)
	small := recordsOf(randomUnit(21, 50, dim), "n", "", 1000)
	for i := range big {
		big[i].Meta = map[string]string{"mod": strconv.Itoa(i % 5)}
		big[i].Payload = []byte("p" + big[i].ID)
		if i%7 == 0 {
			big[i].ExpiresAt = time.Now().Add(time.Hour)
		}
	}
	upsertAll(t, s, big)
	upsertAll(t, s, small)
	var del []string
	for i := 0; i < 1000; i += 9 {
		del = append(del, idOf(i))
	}
	if err := s.Delete(t.Context(), del); err != nil {
		t.Fatal(err)
	}
	queries := randomUnit(22, 20, dim)
	filters := []vectorstore.Filter{
		{Namespace: "n"},
		{Namespace: "n", Partition: vectorstore.PartitionOf("big")},
		{Namespace: "n", Partition: vectorstore.PartitionOf("")},
		{Namespace: "n", Meta: map[string]string{"mod": "3"}},
	}
	before := snapshotResults(t, s, queries, filters)
	count, err := s.Count(t.Context(), vectorstore.Filter{Namespace: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, snapFile)); err != nil {
		t.Fatalf("no snapshot after Close: %v", err)
	}

	s, err = Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.loadInfo; got.records != count || got.fromSnapshot != count || got.replayed != 0 || got.fullScan {
		t.Errorf("load stats %+v, want %d records, all from the snapshot, nothing replayed", got, count)
	}
	after := snapshotResults(t, s, queries, filters)
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("query %d differs after reopen:\n before %s\n after  %s", i, before[i], after[i])
		}
	}
	if n, err := s.Count(t.Context(), vectorstore.Filter{Namespace: "n"}); err != nil || n != count {
		t.Errorf("Count after reopen = %d, %v; want %d", n, err, count)
	}
	if s.spaces["n"]["big"].g == nil {
		t.Error("big group lost its graph")
	}
}

// TestStaleSnapshot writes a snapshot, keeps mutating, then "crashes": the
// reopened store must serve exactly the committed state, re-indexing only
// the records the snapshot does not vouch for.
func TestStaleSnapshot(t *testing.T) {
	const dim = 16
	dir := t.TempDir()
	opts := Options{Dir: dir, Dimension: dim, ExactThreshold: 100, Logger: quiet}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	vs := randomUnit(30, 1000, dim)
	upsertAll(t, s, recordsOf(vs, "n", "", 0))
	s.writeMu.Lock()
	if err := s.saveSnapshot(); err != nil {
		t.Fatal(err)
	}
	s.writeMu.Unlock()

	ctx := t.Context()
	live := make([]bool, 1100)
	for i := range 1000 {
		live[i] = true
	}
	var del []string
	for i := 0; i < 100; i++ { // delete 0..99
		del = append(del, idOf(i))
		live[i] = false
	}
	if err := s.Delete(ctx, del); err != nil {
		t.Fatal(err)
	}
	fresh := randomUnit(31, 200, dim)
	replaced := recordsOf(fresh[:100], "n", "", 100) // new vectors for 100..199
	copy(vs[100:200], fresh[:100])
	added := recordsOf(fresh[100:], "n", "", 1000) // 1000..1099
	vs = append(vs, fresh[100:]...)
	for i := 1000; i < 1100; i++ {
		live[i] = true
	}
	upsertAll(t, s, replaced)
	upsertAll(t, s, added)
	// Move 10 records to another partition.
	moved := recordsOf(vs[200:210], "n", "other", 200)
	upsertAll(t, s, moved)
	for i := 200; i < 210; i++ {
		live[i] = false
	}
	crash(t, s)

	s, err = Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := s.loadInfo.fromSnapshot, 1000; got != want || s.loadInfo.fullScan {
		t.Errorf("%d records restored from the snapshot, want %d (stats %+v)", got, want, s.loadInfo)
	}
	// 100 deletes, 100 replacements, 100 additions, 10 moves.
	if got, want := s.loadInfo.replayed, 310; got != want {
		t.Errorf("%d change log entries replayed, want %d", got, want)
	}
	queries := randomUnit(32, 50, dim)
	isLive := func(i int) bool { return live[i] }
	if rc := recallAt(t, s, vs, queries, isLive, 10, vectorstore.Filter{Namespace: "n", Partition: vectorstore.PartitionOf("")}); rc < 0.97 {
		t.Errorf("recall@10 after reopening over a stale snapshot = %.3f", rc)
	}
	// Deleted and moved records never come back from the snapshot.
	for _, i := range []int{0, 50, 99, 200, 209} {
		hits, err := s.Search(ctx, vectorstore.Query{Vector: vs[i], K: 1, MinScore: -1, Filter: vectorstore.Filter{Namespace: "n", Partition: vectorstore.PartitionOf("")}})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) == 1 && hits[0].Record.ID == idOf(i) {
			t.Errorf("record %d found in its old place", i)
		}
	}
	if n, _ := s.Count(ctx, vectorstore.Filter{Namespace: "n", Partition: vectorstore.PartitionOf("other")}); n != 10 {
		t.Errorf("Count(other) = %d, want 10", n)
	}
	checkGraphInvariants(t, s.spaces["n"][""])
}

func TestCorruptSnapshotIgnored(t *testing.T) {
	const dim = 8
	dir := t.TempDir()
	opts := Options{Dir: dir, Dimension: dim, ExactThreshold: 50, Logger: quiet}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	vs := randomUnit(40, 300, dim)
	upsertAll(t, s, recordsOf(vs, "n", "", 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, snapFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40
	tests := []struct {
		name    string
		data    []byte
		optsMod func(*Options)
	}{
		{"empty", nil, nil},
		{"truncated", good[:len(good)/3], nil},
		{"flipped byte", flipped, nil},
		{"garbage", bytes.Repeat([]byte("garbage!"), 100), nil},
		{"other M", good, func(o *Options) { o.M = 7 }},
	}
	queries := randomUnit(41, 20, dim)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			o := opts
			if tc.optsMod != nil {
				tc.optsMod(&o)
			}
			s, err := Open(t.Context(), o)
			if err != nil {
				t.Fatalf("Open with a bad snapshot: %v", err)
			}
			defer s.Close()
			if s.loadInfo.fromSnapshot != 0 || s.loadInfo.pending != 300 {
				t.Errorf("load stats %+v: the bad snapshot was used", s.loadInfo)
			}
			waitBuilt(t, s)
			if rc := recallAt(t, s, vs, queries, nil, 5, vectorstore.Filter{Namespace: "n"}); rc < 0.97 {
				t.Errorf("recall@5 = %.3f", rc)
			}
		})
	}
}

func TestReopenWithOtherDimension(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Options{Dir: dir, Dimension: 8, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), Options{Dir: dir, Dimension: 16, Logger: quiet})
	if !errors.Is(err, vectorstore.ErrDimension) {
		t.Fatalf("Open with another dimension: err = %v, want ErrDimension", err)
	}
	// The failed open released the database.
	s, err = Open(t.Context(), Options{Dir: dir, Dimension: 8, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestExpiredPurgedAtOpen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, Dimension: 4, Logger: quiet}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(20 * time.Millisecond)
	err = s.Upsert(t.Context(), []vectorstore.Record{
		{ID: "soon", Vector: []float32{1, 0, 0, 0}, Namespace: "n", ExpiresAt: soon},
		{ID: "later", Vector: []float32{0, 1, 0, 0}, Namespace: "n", ExpiresAt: time.Now().Add(time.Hour)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(soon) + 5*time.Millisecond)
	s, err = Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.loadInfo.expired != 1 || s.loadInfo.records != 1 {
		t.Errorf("load stats %+v, want 1 expired and 1 live", s.loadInfo)
	}
	var keys int
	if err := s.db.View(func(tx *bbolt.Tx) error {
		keys = tx.Bucket(bucketRecords).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if keys != 1 {
		t.Errorf("bbolt holds %d records, want 1", keys)
	}
}

// --- crash safety ------------------------------------------------------------

const crashEnv = "SEMCACHE_MEMORY_CRASH_DIR"

// crashDim and crashOpts are shared by the child writer and the verifier.
const crashDim = 16

func crashOpts(dir string) Options {
	return Options{
		Dir: dir, Dimension: crashDim, ExactThreshold: 64, M: 8, EfConstruction: 64,
		JanitorInterval: 5 * time.Millisecond, SnapshotInterval: 10 * time.Millisecond, Logger: quiet,
	}
}

// crashVector derives a record's vector from its ID and version, so the
// verifier can recompute what the child wrote.
func crashVector(id string, version int) []float32 {
	var seed uint64
	for _, c := range id {
		seed = seed*31 + uint64(c)
	}
	return randomUnit(seed+uint64(version)*1_000_003, 1, crashDim)[0]
}

// TestCrashChild is the child process of TestCrashSafety; it does nothing
// in a normal run. It writes until killed, announcing each operation
// before it starts ("try ...") and when it is acknowledged ("ack").
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("child process of TestCrashSafety")
	}
	round := os.Getenv(crashEnv + "_ROUND")
	s, err := Open(context.Background(), crashOpts(dir))
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(3)
	}
	r := rand.New(rand.NewPCG(uint64(len(round)), 9))
	ctx := context.Background()
	for i := 0; ; i++ {
		// Mostly new records, sometimes a replacement (version bump).
		var recs []vectorstore.Record
		line := []string{"try"}
		for j := range 8 {
			id := fmt.Sprintf("r%s-%05d-%d", round, i, j)
			version := 0
			if i > 0 && r.IntN(4) == 0 {
				id = fmt.Sprintf("r%s-%05d-%d", round, r.IntN(i), j)
				version = i
			}
			recs = append(recs, vectorstore.Record{
				ID: id, Vector: crashVector(id, version), Namespace: "crash", Partition: crashPartition(id),
				Payload: fmt.Appendf(nil, "%s@%d", id, version),
			})
			line = append(line, fmt.Sprintf("%s@%d", id, version))
		}
		fmt.Println(strings.Join(line, " "))
		if err := s.Upsert(ctx, recs); err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(4)
		}
		fmt.Println("ack")
		if i%5 == 4 {
			victim := fmt.Sprintf("r%s-%05d-%d", round, r.IntN(i), r.IntN(8))
			fmt.Printf("try %s@-1\n", victim)
			if err := s.Delete(ctx, []string{victim}); err != nil {
				fmt.Printf("error %v\n", err)
				os.Exit(4)
			}
			fmt.Println("ack")
		}
	}
}

func crashPartition(id string) string {
	j, _ := strconv.Atoi(id[strings.LastIndexByte(id, '-')+1:])
	return strconv.Itoa(j % 2)
}

// crashState tracks what the child acknowledged: acked[id] is the newest
// acknowledged version (-1 once deleted); maybe[id] is the version of an
// operation in flight when the child died (either outcome is fine).
type crashState struct {
	acked map[string]int
	maybe map[string]int
}

// TestCrashSafety SIGKILLs a writer process mid-flight, three times, and
// checks that the database opens cleanly with every acknowledged write in
// it (and nothing that was never written).
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	st := &crashState{acked: map[string]int{}, maybe: map[string]int{}}
	for round := range 3 {
		runCrashChild(t, dir, round, st)
		verifyCrashDir(t, dir, st)
	}
}

func runCrashChild(t *testing.T, dir string, round int, st *crashState) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir, fmt.Sprintf("%s_ROUND=%d", crashEnv, round))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill at a random moment after a random number of acknowledged
	// operations, then read what the child managed to print: every "ack"
	// it printed is a real acknowledgement, a trailing "try" is in flight.
	killAt := 40 + rand.IntN(80)
	sc := bufio.NewScanner(stdout)
	acks := 0
	killed := false
	var pending []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "try":
			pending = fields[1:]
		case "ack":
			for _, f := range pending {
				id, v, _ := strings.Cut(f, "@")
				st.acked[id], _ = strconv.Atoi(v)
			}
			pending = nil
			acks++
		case "error":
			t.Fatalf("child: %s", sc.Text())
		}
		if acks >= killAt && !killed {
			time.Sleep(time.Duration(rand.IntN(15_000)) * time.Microsecond)
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child stopped after %d acks: %v\n%s", acks, err, stderr.String())
	}
	clear(st.maybe)
	for _, f := range pending {
		id, v, _ := strings.Cut(f, "@")
		st.maybe[id], _ = strconv.Atoi(v)
	}
	t.Logf("round %d: killed after %d acknowledged operations, %d in flight", round, acks, len(pending))
}

func verifyCrashDir(t *testing.T, dir string, st *crashState) {
	t.Helper()
	s, err := Open(t.Context(), crashOpts(dir))
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	err = s.db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bbolt consistency check: %v", err)
	}
	// What is actually stored, by ID → version.
	stored := map[string]int{}
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			rec, err := decodeRecord(v, crashDim, false, true)
			if err != nil {
				return err
			}
			id, ver, _ := strings.Cut(string(rec.payload), "@")
			if id != string(k) {
				return fmt.Errorf("record %s has payload %q", k, rec.payload)
			}
			stored[id], _ = strconv.Atoi(ver)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for id := range st.acked {
		ids[id] = true
	}
	for id := range stored {
		ids[id] = true
	}
	for id := range st.maybe {
		ids[id] = true
	}
	ctx := t.Context()
	for id := range ids {
		got, ok := stored[id]
		if !ok {
			got = -1
		}
		want, known := st.acked[id]
		if !known {
			want = -1
		}
		if m, inFlight := st.maybe[id]; inFlight && got == m {
			want = m
		}
		if got != want {
			t.Errorf("%s: stored version %d, acknowledged %d", id, got, want)
			continue
		}
		if got < 0 {
			continue
		}
		// The in-memory index agrees with bbolt.
		hits, err := s.Search(ctx, vectorstore.Query{
			Vector: crashVector(id, got), K: 1, MinScore: -1,
			Filter: vectorstore.Filter{Namespace: "crash", Partition: vectorstore.PartitionOf(crashPartition(id))},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 || hits[0].Record.ID != id || math.Abs(float64(hits[0].Score)-1) > 1e-4 {
			t.Errorf("%s@%d stored but not found by its vector: %v", id, got, hitIDs(hits))
		}
		// Settle the in-flight outcome for the next round.
		st.acked[id] = got
	}
	for id := range st.maybe {
		if _, ok := stored[id]; !ok {
			st.acked[id] = -1
		}
	}
	n, err := s.Count(ctx, vectorstore.Filter{Namespace: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(stored) {
		t.Errorf("Count = %d, bbolt holds %d", n, len(stored))
	}
	t.Logf("reopened: %d records, %+v", n, s.loadInfo)
}

func hitIDs(hits []vectorstore.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Record.ID
	}
	return out
}

// waitBuilt waits for background graph builds to finish.
func waitBuilt(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := s.WaitIndexed(ctx); err != nil {
		t.Fatalf("graph build did not finish: %v", err)
	}
}

// TestOpenBuildsInBackground: without a snapshot, Open returns before the
// graph exists; searches (served by the code scan), upserts and deletes
// keep working while it is built, and it is built right.
func TestOpenBuildsInBackground(t *testing.T) {
	const (
		dim = 16
		n   = 3000
	)
	dir := t.TempDir()
	opts := Options{Dir: dir, Dimension: dim, ExactThreshold: 200, Logger: quiet}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	s.opts.ExactThreshold = n + 1000 // write without a graph, so no snapshot
	vs := randomUnit(60, n+200, dim)
	upsertAll(t, s, recordsOf(vs[:n], "n", "", 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.loadInfo.pending != n {
		t.Fatalf("load stats %+v, want %d pending", s.loadInfo, n)
	}
	ctx := t.Context()
	live := make([]bool, n+200)
	for i := range n {
		live[i] = true
	}
	// Write while the graph is (probably) still being built.
	upsertAll(t, s, recordsOf(vs[n:], "n", "", n))
	var del []string
	for i := 0; i < n; i += 10 {
		del = append(del, idOf(i))
		live[i] = false
	}
	if err := s.Delete(ctx, del); err != nil {
		t.Fatal(err)
	}
	for i := n; i < n+200; i++ {
		live[i] = true
	}
	isLive := func(i int) bool { return live[i] }
	queries := randomUnit(61, 30, dim)
	if rc := recallAt(t, s, vs, queries, isLive, 10, vectorstore.Filter{Namespace: "n"}); rc < 0.97 {
		t.Errorf("recall@10 while building = %.3f", rc)
	}
	waitBuilt(t, s)
	gr := s.spaces["n"][""]
	if gr.g == nil {
		t.Fatal("no graph after the background build")
	}
	checkGraphInvariants(t, gr)
	s.path = pathGraph
	if rc := recallAt(t, s, vs, queries, isLive, 10, vectorstore.Filter{Namespace: "n"}); rc < 0.95 {
		t.Errorf("graph recall@10 after the build = %.3f", rc)
	}
	// Slots are reused again once built.
	before := gr.slots()
	upsertAll(t, s, recordsOf(vs[:10], "n", "", 0))
	if gr.slots() != before {
		t.Errorf("slots grew from %d to %d: freed slots not reused", before, gr.slots())
	}
	if _, err := os.Stat(filepath.Join(dir, snapFile)); err != nil {
		t.Errorf("no snapshot after the background build: %v", err)
	}
}

// TestCloseDuringBackgroundBuild: Close abandons a build promptly.
func TestCloseDuringBackgroundBuild(t *testing.T) {
	const dim = 32
	dir := t.TempDir()
	opts := Options{Dir: dir, Dimension: dim, ExactThreshold: 100, Logger: quiet}
	s, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	s.opts.ExactThreshold = 1 << 20
	upsertAll(t, s, recordsOf(randomUnit(62, 20000, dim), "n", "", 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %v during a background build", took)
	}
}
