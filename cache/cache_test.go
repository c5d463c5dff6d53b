package cache

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/semcache/semcache/vectorstore"
)

// bagEmbedder is a test embedder: a normalised bag of lower-cased words
// over a tiny hashed space, so paraphrases sharing words score high.
type bagEmbedder struct {
	mu    sync.Mutex
	calls int
	fail  error
}

func (b *bagEmbedder) ModelID() string { return "bag-test" }

func (b *bagEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	b.mu.Lock()
	b.calls++
	fail := b.fail
	b.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, 64)
		for _, w := range strings.Fields(strings.ToLower(strings.Trim(t, "?!."))) {
			h := 0
			for _, c := range strings.Trim(w, "?!.,") {
				h = h*31 + int(c)
			}
			v[(h%64+64)%64]++
		}
		var n float64
		for _, x := range v {
			n += float64(x * x)
		}
		for j := range v {
			v[j] /= float32(math.Sqrt(n) + 1e-9)
		}
		out[i] = v
	}
	return out, nil
}

// bruteIndex is a test Index: exact search over a slice.
type bruteIndex struct {
	mu   sync.Mutex
	recs map[string]vectorstore.Record
	fail error
}

func (x *bruteIndex) Upsert(_ context.Context, recs []vectorstore.Record) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.recs == nil {
		x.recs = map[string]vectorstore.Record{}
	}
	for _, r := range recs {
		x.recs[r.ID] = r
	}
	return nil
}

func (x *bruteIndex) Search(_ context.Context, q vectorstore.Query) ([]vectorstore.Hit, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.fail != nil {
		return nil, x.fail
	}
	var hits []vectorstore.Hit
	for _, r := range x.recs {
		if r.Namespace != q.Filter.Namespace || (q.Filter.Partition != nil && *q.Filter.Partition != r.Partition) {
			continue
		}
		var s float32
		for i := range r.Vector {
			s += r.Vector[i] * q.Vector[i]
		}
		if s >= q.MinScore {
			hits = append(hits, vectorstore.Hit{Record: r, Score: s})
		}
	}
	slices.SortFunc(hits, func(a, b vectorstore.Hit) int {
		if a.Score > b.Score {
			return -1
		}
		return 1
	})
	return hits[:min(len(hits), q.K)], nil
}

func (x *bruteIndex) Delete(_ context.Context, ids []string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, id := range ids {
		delete(x.recs, id)
	}
	return nil
}

func (x *bruteIndex) DeleteWhere(_ context.Context, f vectorstore.Filter) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for id, r := range x.recs {
		if r.Namespace == f.Namespace {
			delete(x.recs, id)
			n++
		}
	}
	return n, nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lookup describes a one-question chat request as an endpoint would.
func lookup(t *testing.T, ns, q string) Lookup {
	t.Helper()
	return Lookup{Namespace: ns, Endpoint: "chat", Model: "m", Key: []byte(`{"model":"m","q":"` + q + `"}`),
		Prompt: q, Partition: []byte(`{"model":"m"}`)}
}

var answer = Answer{Endpoint: "chat", Model: "m", Text: "42", Payload: []byte(`{"content":"42"}`), Usage: &Usage{3, 1, 4}}

func TestExactTier(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c, err := Open(Options{Now: clk.now, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	l := lookup(t, "a", "What is six times seven?")
	if r := c.Get(ctx, l); r.Tier != TierNone {
		t.Fatalf("empty cache hit: %+v", r)
	}
	e := c.Put(l, answer, nil, 0, nil)
	r := c.Get(ctx, l)
	if r.Tier != TierExact || r.Entry.Answer.Text != "42" || r.Entry.ID != e.ID {
		t.Fatalf("not an exact hit: %+v", r)
	}
	if r := c.Get(ctx, lookup(t, "b", "What is six times seven?")); r.Tier != TierNone {
		t.Fatal("namespace b saw namespace a's entry")
	}
	clk.add(59 * time.Minute)
	if r := c.Get(ctx, l); r.Tier != TierExact {
		t.Fatal("entry expired early")
	}
	clk.add(2 * time.Minute)
	if r := c.Get(ctx, l); r.Tier != TierNone {
		t.Fatal("entry served after its TTL")
	}
	// A per-entry TTL wins over the default.
	l2 := lookup(t, "a", "short lived")
	c.Put(l2, answer, nil, time.Second, nil)
	clk.add(2 * time.Second)
	if r := c.Get(ctx, l2); r.Tier != TierNone {
		t.Fatal("per-entry TTL ignored")
	}
}

func TestPersistenceAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l := lookup(t, "a", "persist me")
	c.Put(l, answer, nil, 0, []string{"doc1#0"})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	r := c2.Get(context.Background(), l)
	if r.Tier != TierExact || r.Entry.Answer.Text != "42" || r.Entry.Answer.Usage.TotalTokens != 4 {
		t.Fatalf("entry lost across restart: %+v", r)
	}
	if c2.Stats().DiskEntries != 1 {
		t.Fatalf("disk entries = %d", c2.Stats().DiskEntries)
	}
}

// TestExactTierFromDiskAfterHotEviction reads entries the hot tier no
// longer holds from disk, in their namespace and sub-namespace (a miss
// skips the disk when the usage records lack the key), and never across
// namespaces or after a delete.
func TestExactTierFromDiskAfterHotEviction(t *testing.T) {
	c, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	top, sub := lookup(t, "team", "top"), lookup(t, "team/alice", "sub")
	for _, l := range []Lookup{top, sub} {
		c.Put(l, answer, nil, 0, nil)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range []Lookup{top, sub} {
		c.hot.del(l.key())
	}
	c.hot.rc.Wait()
	for _, tc := range []struct {
		name string
		l    Lookup
		want Tier
	}{
		{"namespace", top, TierExact},
		{"sub-namespace", sub, TierExact},
		{"other namespace", lookup(t, "other", "top"), ""},
		{"never written", lookup(t, "team", "never"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := c.Get(ctx, tc.l); r.Tier != tc.want {
				t.Fatalf("tier %q, want %q", r.Tier, tc.want)
			}
		})
	}
	if ok, err := c.DeleteEntry(ctx, "team", top.key().EntryID()); !ok || err != nil {
		t.Fatalf("delete: %v %v", ok, err)
	}
	if r := c.Get(ctx, top); r.Tier != "" {
		t.Fatalf("deleted entry served from tier %q", r.Tier)
	}
}

func semanticCache(t *testing.T, emb *bagEmbedder, idx *bruteIndex, verify VerifyFunc) *Cache {
	t.Helper()
	var j Judge
	if verify != nil {
		j = verify
	}
	c, err := Open(Options{Semantic: &SemanticOptions{Embedder: emb, Index: idx, Verify: j, Threshold: 0.7}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSemanticTier(t *testing.T) {
	emb, idx := &bagEmbedder{}, &bruteIndex{}
	refuseNumbers := func(q, cand string, _ float32) string {
		if strings.ContainsAny(q, "0123456789") != strings.ContainsAny(cand, "0123456789") || (strings.Contains(q, "3") != strings.Contains(cand, "3")) {
			return "numbers"
		}
		return ""
	}
	c := semanticCache(t, emb, idx, refuseNumbers)
	ctx := context.Background()
	stored := lookup(t, "a", "how do I reverse a list in python")
	res := c.Get(ctx, stored)
	if res.Tier != TierNone || res.Vector == nil {
		t.Fatalf("first lookup: %+v", res)
	}
	c.Put(stored, answer, res.Vector, 0, nil)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	para := c.Get(ctx, lookup(t, "a", "in python how do I reverse a list?"))
	if para.Tier != TierSemantic || para.Similarity < 0.7 || para.Entry.Answer.Text != "42" {
		t.Fatalf("paraphrase: %+v", para)
	}
	if other := c.Get(ctx, lookup(t, "b", "in python how do I reverse a list?")); other.Tier != TierNone {
		t.Fatal("another tenant's paraphrase hit")
	}
	if unrelated := c.Get(ctx, lookup(t, "a", "best pizza in naples")); unrelated.Tier != TierNone {
		t.Fatal("unrelated prompt hit")
	}

	// The verifier's veto is reported with its reason.
	c.Put(lookup(t, "a", "split a list into 3 parts in python"), answer, nil, 0, nil)
	_ = c.Flush(ctx)
	rej := c.Get(ctx, lookup(t, "a", "split a list into 4 parts in python"))
	if rej.Tier != TierNone || len(rej.Rejections) == 0 || rej.Rejections[0].Reason != "numbers" {
		t.Fatalf("verifier did not veto: %+v", rej)
	}

	// A follow-up in another conversation prefix never matches.
	conv := lookup(t, "a", "how do I reverse a list in python")
	conv.Key = append(conv.Key, " as a pirate"...)
	conv.Partition = []byte(`{"model":"m","system":"You are a pirate"}`)
	if r := c.Get(ctx, conv); r.Tier != TierNone {
		t.Fatal("same question in another conversation prefix hit")
	}
}

func TestSemanticDegradesOnFailures(t *testing.T) {
	emb, idx := &bagEmbedder{}, &bruteIndex{}
	c := semanticCache(t, emb, idx, nil)
	ctx := context.Background()
	emb.fail = errors.New("embedder down")
	r := c.Get(ctx, lookup(t, "a", "anything at all"))
	if r.Tier != TierNone || r.EmbedErr == nil {
		t.Fatalf("embed failure: %+v", r)
	}
	emb.fail = nil
	idx.fail = vectorstore.ErrUnavailable
	r = c.Get(ctx, lookup(t, "a", "anything at all"))
	if r.Tier != TierNone || !errors.Is(r.SearchErr, vectorstore.ErrUnavailable) {
		t.Fatalf("store failure: %+v", r)
	}
	if s := c.Stats(); s.EmbedErrors != 1 || s.StoreErrors != 1 || s.WriteBackEmbedErrors+s.IndexErrors+s.JanitorErrors != 0 {
		t.Fatalf("lookup failures only: stats = %+v", s)
	}
}

func TestShadowMode(t *testing.T) {
	emb, idx := &bagEmbedder{}, &bruteIndex{}
	c, err := Open(Options{Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7, Shadow: map[string]bool{"a": true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	c.Put(lookup(t, "a", "how do I reverse a list in python"), answer, nil, 0, nil)
	_ = c.Flush(ctx)
	r := c.Get(ctx, lookup(t, "a", "in python how do I reverse a list"))
	if r.Tier != TierNone || r.Shadow == nil || r.Similarity < 0.7 {
		t.Fatalf("shadow: %+v", r)
	}
}

func TestOptionsValidation(t *testing.T) {
	_, err := Open(Options{MaxBytes: -1, TTL: -1, Semantic: &SemanticOptions{Threshold: 2}})
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{"MaxBytes", "TTL", "embedder", "threshold"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestConcurrentPutGet(t *testing.T) {
	c, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				l := lookup(t, "ns", strings.Repeat("q", g+1)+string(rune('a'+i%26)))
				c.Put(l, answer, nil, 0, nil)
				if r := c.Get(ctx, l); r.Tier != TierExact {
					t.Errorf("read-your-write failed for g=%d i=%d", g, i)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestSaltAndPurgeSources(t *testing.T) {
	for _, dir := range []string{"", t.TempDir()} {
		emb, idx := &bagEmbedder{}, &bruteIndex{}
		c, err := Open(Options{Dir: dir, Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		l := lookup(t, "a", "what does the handbook say about holidays")
		l.Salt = "v1"
		c.Put(l, answer, nil, 0, []string{"handbook#3", "handbook#4"})
		other := lookup(t, "a", "unrelated question entirely")
		c.Put(other, answer, nil, 0, []string{"faq#1"})
		_ = c.Flush(ctx)
		if r := c.Get(ctx, l); r.Tier != TierExact {
			t.Fatalf("dir=%q: salted entry not found", dir)
		}
		unsalted := l
		unsalted.Salt = ""
		if r := c.Get(ctx, unsalted); r.Tier != TierNone {
			t.Fatalf("dir=%q: salt ignored by the key: %+v", dir, r.Tier)
		}
		v2 := l
		v2.Salt = "v2"
		if r := c.Get(ctx, v2); r.Tier != TierNone {
			t.Fatalf("dir=%q: answer built on another content version served (%s)", dir, r.Tier)
		}
		n, err := c.PurgeSources(ctx, []string{"handbook#4"})
		if err != nil || n != 1 {
			t.Fatalf("dir=%q: purge = %d, %v", dir, n, err)
		}
		if r := c.Get(ctx, l); r.Tier != TierNone {
			t.Fatalf("dir=%q: purged entry still served from %s", dir, r.Tier)
		}
		if r := c.Get(ctx, other); r.Tier != TierExact {
			t.Fatalf("dir=%q: unrelated entry purged", dir)
		}
		if len(idx.recs) != 1 {
			t.Fatalf("dir=%q: similarity tier holds %d records, want 1", dir, len(idx.recs))
		}
		c.Close()
	}
}

func TestEndpointsNeverShareKeys(t *testing.T) {
	emb, idx := &bagEmbedder{}, &bruteIndex{}
	c := semanticCache(t, emb, idx, nil)
	ctx := context.Background()
	chat := lookup(t, "a", "how do I reverse a list in python")
	c.Put(chat, answer, nil, 0, nil)
	_ = c.Flush(ctx)
	other := chat
	other.Endpoint = "responses"
	if k1, k2 := chat.ExactKey(), other.ExactKey(); k1 == k2 {
		t.Fatal("two endpoints share an exact key")
	}
	if r := c.Get(ctx, other); r.Tier != TierNone {
		t.Fatalf("a chat answer was served to another endpoint from the %s tier", r.Tier)
	}
	legacy := chat
	legacy.Endpoint = ""
	if legacy.ExactKey() != chat.ExactKey() {
		t.Fatal("chat keys moved: entries written before endpoints existed would be lost")
	}
}

// TestLegacyEntryLayout reads an entry as semcache stored it before it
// served other endpoints (copied from a data directory of that version).
func TestLegacyEntryLayout(t *testing.T) {
	const old = `{"id":"9ff74ff487d00be5ef62e7ad","key":"9ff74ff487d00be5ef62e7ad9678667e7418954b2d4f449a001c365128b4bc36","namespace":"key:95e02deaa77dcd167ada2bfd56fa8410","partition":"5345a3d2c1ff3a9ab81e73861e7ea59f","prompt":"How do I reverse a list in Python?","request_model":"sim-gpt","answer":{"model":"sim-gpt","role":"assistant","content":"Answer-c7e744e9 about reversing","finish_reason":"stop","system_fingerprint":"fp_semcache_sim","usage":{"prompt_tokens":8,"completion_tokens":24,"total_tokens":32}},"created_at":"2026-12-05T04:33:38.291221188Z","expires_at":"2026-12-06T04:33:38.291221188Z"}`
	e, err := UnmarshalEntry([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	a := e.Answer
	if a.Endpoint != LegacyEndpoint || a.Model != "sim-gpt" || a.Text != "Answer-c7e744e9 about reversing" ||
		a.Usage == nil || a.Usage.TotalTokens != 32 || !strings.Contains(string(a.Payload), `"finish_reason":"stop"`) {
		t.Fatalf("legacy answer read as %+v", a)
	}
	// Written back, it reads the same (the new layout).
	b, err := MarshalEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	again, err := UnmarshalEntry(b)
	if err != nil || again.Answer.Text != a.Text || again.Answer.Endpoint != a.Endpoint || string(again.Answer.Payload) != string(a.Payload) {
		t.Fatalf("round trip: %+v, %v", again.Answer, err)
	}
}

// TestMarshalEntrySameBytes: MarshalEntry writes what encoding/json
// writes (entries stay readable by older versions and byte-stable); with
// invalid UTF-8 (replaced by U+FFFD, which encoding/json writes escaped
// and MarshalEntry as is) the entry decodes to the same value.
func TestMarshalEntrySameBytes(t *testing.T) {
	for name, e := range map[string]*Entry{
		"full": {ID: "id", Key: strings.Repeat("b", 64), Namespace: "ns/sub", Partition: "p\x00q",
			Prompt: "How do I reverse a list in <Python> & co?\u2028", Context: "earlier turn", RequestModel: "gpt",
			Answer: Answer{Endpoint: "chat", Model: "gpt", Usage: &Usage{1, 2, 3}, Text: "é \ufffd replaced",
				Payload: json.RawMessage(` {"role":"assistant", "content":"x"} `), Chunks: Chunks{}.Append(3).Append(4)},
			CreatedAt: time.Unix(1700000000, 123456789).UTC(), ExpiresAt: time.Unix(1800000000, 0).In(time.FixedZone("X", 3600)),
			Sources: []string{"doc#1"}, AliasOf: strings.Repeat("c", 64),
			Variants: []Answer{{Endpoint: "chat", Text: "v2"}}},
		"minimal":      {Key: "k", Namespace: "n"},
		"invalid utf8": {Key: "k", Namespace: "n", Prompt: "bad \xff", Answer: Answer{Endpoint: "chat", Text: "\xfe\xff"}},
	} {
		if name == "invalid utf8" {
			got, err := MarshalEntry(e)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(e)
			var g, w Entry
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal(want, &w)
			if g.Prompt != w.Prompt || g.Answer.Text != w.Answer.Text || g.Prompt != "bad \ufffd" {
				t.Errorf("invalid utf8: decoded %q %q, encoding/json's %q %q", g.Prompt, g.Answer.Text, w.Prompt, w.Answer.Text)
			}
			continue
		}
		want, werr := json.Marshal(e)
		got, gerr := MarshalEntry(e)
		if werr != nil || gerr != nil || string(got) != string(want) {
			t.Errorf("%s: MarshalEntry\n%s (%v), encoding/json\n%s (%v)", name, got, gerr, want, werr)
		}
	}
}

// TestWarmedEntriesReadFromDisk: entries written by Warm are exact hits
// from disk once the hot tier no longer holds them.
func TestWarmedEntriesReadFromDisk(t *testing.T) {
	c, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	l := lookup(t, "team", "warmed")
	if n, err := c.Warm(ctx, []WarmItem{{Lookup: l, Answer: answer}}); n != 1 || err != nil {
		t.Fatalf("warm: %d %v", n, err)
	}
	c.hot.del(l.key())
	c.hot.rc.Wait()
	if r := c.Get(ctx, l); r.Tier != TierExact {
		t.Fatalf("warmed entry after hot eviction: tier %q", r.Tier)
	}
}
