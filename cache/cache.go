package cache

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/viterin/vek/vek32"

	"github.com/semcache/semcache/vectorstore"
)

// Embedder is what the similarity tier needs from an embedder.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	ModelID() string
}

// Index is what the similarity tier needs from a vector store.
type Index interface {
	Upsert(ctx context.Context, recs []vectorstore.Record) error
	Search(ctx context.Context, q vectorstore.Query) ([]vectorstore.Hit, error)
	Delete(ctx context.Context, ids []string) error
	DeleteWhere(ctx context.Context, f vectorstore.Filter) (int, error)
}

// Judge decides which semantic candidates may answer a query. It gets the
// candidates that passed the similarity floor, best first, and returns one
// judgement per candidate, in order. The cache serves the accepted
// candidate with the highest score.
type Judge interface {
	Judge(ctx context.Context, query Text, cands []Candidate) []Judgement
}

// Text is what a judge compares: a prompt, and the earlier user turns of
// its conversation in context mode ("" otherwise).
type Text struct {
	Prompt, Context string
	// ContextAnswers fingerprints the earlier assistant turns of the
	// conversation (ContextAnswersFingerprint; "" when there are none or
	// they are too short to tell conversations apart).
	ContextAnswers string
}

// Candidate is a cached prompt a judge compares with the query.
type Candidate struct {
	Text
	Similarity float32
	// RulesOnly asks the judge to apply its rules alone, whatever the
	// candidate's score: the cache asks it for an alias's original entry.
	RulesOnly bool
	// MinScore, when positive, replaces the judge's own score cut-off
	// (Lookup.ScoreFloor).
	MinScore float32
}

// Judgement is a judge's decision on one candidate.
type Judgement struct {
	OK bool
	// Reason names the rule that rejected the candidate ("" when OK).
	Reason string
	// Score is the calibrated probability that the candidate's answer
	// serves the query (higher is better).
	Score float32
	// Kind names how the judge scored the pair (the verifier: "request"
	// or "description"); "" when it does not say.
	Kind string
	// Rule is set when a rule rejected the candidate outright, rather
	// than its score falling short of a cut-off.
	Rule bool
}

// VerifyFunc adapts a per-candidate check of prompts to Judge: it returns
// "" to accept, or the reason for rejecting. Its score is the similarity.
// Contexts must be equal.
type VerifyFunc func(query, candidate string, similarity float32) (reason string)

// Judge calls f for each candidate.
func (f VerifyFunc) Judge(_ context.Context, query Text, cands []Candidate) []Judgement {
	out := make([]Judgement, len(cands))
	for i, c := range cands {
		r := f(query.Prompt, c.Prompt, c.Similarity)
		if r == "" && c.Context != query.Context {
			r = "context"
		}
		out[i] = Judgement{OK: r == "", Reason: r, Score: c.Similarity, Rule: r != ""}
	}
	return out
}

// SemanticOptions configure the similarity tier. A nil *SemanticOptions in
// Options disables it.
type SemanticOptions struct {
	Embedder Embedder
	Index    Index
	// Verify guards every candidate; nil serves the most similar
	// candidate above the threshold (not recommended).
	Verify Judge
	// Threshold is the minimum cosine similarity of a semantic hit.
	Threshold float32
	// Thresholds overrides Threshold per namespace; a value above 1
	// disables the tier for that namespace.
	Thresholds map[string]float32
	// Shadow lists namespaces in shadow mode: would-be hits are reported in
	// Result.Shadow but not served.
	Shadow map[string]bool
	// ShadowAll puts every namespace in shadow mode.
	ShadowAll bool
	// TopK candidates are verified, best first (default 5).
	TopK int
	// EmbedTimeout and SearchTimeout bound the tier's work on the request
	// path (defaults 150 ms and 100 ms); past them the request is a miss.
	EmbedTimeout  time.Duration
	SearchTimeout time.Duration
	// MaxEmbedBytes bounds the text embedded per prompt (head and tail
	// are kept; default DefaultMaxEmbedBytes). MaxSemanticBytes bounds
	// the prompt plus context the tier handles at all (default
	// DefaultMaxSemanticBytes): longer requests use the exact tier only.
	MaxEmbedBytes    int
	MaxSemanticBytes int
}

// Options configure a Cache.
type Options struct {
	// MaxBytes is the hot tier's memory budget (default 256 MiB).
	MaxBytes int64
	// TTL is how long entries live unless a request says otherwise
	// (default 24 h).
	TTL time.Duration
	// Dir holds the disk tier; "" keeps entries in memory only.
	Dir string
	// QueueSize bounds the write-back queue (default DefaultQueueSize).
	QueueSize int
	// QueueWait is how long Put waits for room in a full queue before it
	// keeps the entry in the hot tier only, counted in Stats().Dropped
	// (default DefaultQueueWait).
	QueueWait time.Duration
	// IndexBacklog bounds the answers waiting for a failing vector store,
	// in the journal and in memory each (default DefaultIndexBacklog);
	// past it they are exact-tier only, counted in Stats().IndexDropped.
	IndexBacklog int
	// linger replaces batchLinger (tests).
	linger time.Duration
	// MaxTTL caps every entry's lifetime (0: no cap).
	MaxTTL time.Duration
	// Quota bounds each namespace (zero fields: unbounded).
	Quota Quota
	// JanitorInterval is how often expired entries are purged from the
	// disk tier and the vector store (default DefaultJanitorInterval;
	// negative: never).
	JanitorInterval time.Duration
	Semantic        *SemanticOptions
	Logger          *slog.Logger
	Now             func() time.Time
}

func (o *Options) validate() error {
	var errs []error
	if o.MaxBytes < 0 {
		errs = append(errs, errors.New("cache: MaxBytes must not be negative"))
	}
	if o.TTL < 0 {
		errs = append(errs, errors.New("cache: TTL must not be negative"))
	}
	if o.QueueSize < 0 || o.QueueWait < 0 || o.IndexBacklog < 0 || o.MaxTTL < 0 {
		errs = append(errs, errors.New("cache: QueueSize, QueueWait, IndexBacklog and MaxTTL must not be negative"))
	}
	if o.Quota.Entries < 0 || o.Quota.Bytes < 0 {
		errs = append(errs, errors.New("cache: quota bounds must not be negative"))
	}
	if s := o.Semantic; s != nil {
		if s.Embedder == nil || s.Index == nil {
			errs = append(errs, errors.New("cache: the similarity tier needs an embedder and an index"))
		}
		if s.Threshold <= 0 || s.Threshold > 1 {
			errs = append(errs, fmt.Errorf("cache: similarity threshold %v must be in (0, 1]", s.Threshold))
		}
		for ns, t := range s.Thresholds {
			if t <= 0 {
				errs = append(errs, fmt.Errorf("cache: similarity threshold %v for namespace %q must be positive", t, ns))
			}
		}
		if s.TopK < 0 || s.EmbedTimeout < 0 || s.SearchTimeout < 0 || s.MaxEmbedBytes < 0 || s.MaxSemanticBytes < 0 {
			errs = append(errs, errors.New("cache: TopK, timeouts and bounds must not be negative"))
		}
		if s.MaxEmbedBytes > 0 && s.MaxEmbedBytes < 64 {
			errs = append(errs, errors.New("cache: MaxEmbedBytes must be at least 64"))
		}
	}
	return errors.Join(errs...)
}

// Cache is the two-tier answer cache. It is safe for concurrent use.
type Cache struct {
	opts Options
	// pol is the reloadable part of the configuration (see Reconfigure).
	pol atomic.Pointer[policy]
	now func() time.Time
	log *slog.Logger

	hot  *hotTier
	disk *diskTier // nil without Dir

	// pending holds entries written to the hot tier but not yet persisted,
	// so a lookup right after a write always sees it even if ristretto's
	// admission dropped the set.
	pendingMu sync.RWMutex
	pending   map[Key]*Entry
	// pendingVecs holds the vectors of pending entries by similarity group
	// (namespace and partition), so a paraphrase sent right after a miss's
	// answer finds it before the write-back reaches the vector store.
	pendingVecs map[string][]pendingVec
	// variantMu makes PutVariant's read-modify-write of an entry atomic.
	variantMu sync.Mutex

	invalMu sync.RWMutex
	inval   map[string]time.Time

	// sources maps a RAG chunk id to the entries built on it (the disk
	// tier keeps the same index for entries from earlier runs).
	sourcesMu sync.Mutex
	sources   map[string]map[Key]struct{}

	// The write-back (see writeback.go): the queue feeds the disk writer,
	// index feeds the indexer, acked carries the journal rows the indexer
	// is done with back to the disk writer (ackWake wakes it).
	queue   chan writeJob
	index   chan indexJob
	ackMu   sync.Mutex
	acked   []Key
	ackWake chan struct{}
	// flushWake ends the disk writer's wait for a fuller batch (Flush).
	flushWake chan struct{}
	// journalN approximates the journal's rows (bounded by IndexBacklog).
	journalN atomic.Int64
	// What the disk writer left aside while the indexer was behind (see
	// handOff); overflowWake tells the indexer.
	overflowMu      sync.Mutex
	overflowDeletes []string
	overflowJournal bool
	overflowWake    chan struct{}
	// The indexer's own state (only its goroutine touches it).
	backlogged    bool
	backoff       time.Duration
	retryAt       time.Time
	memBacklog    []writeJob
	deleteBacklog []string
	replayAfter   *Key
	parkedJournal bool

	usage *usage

	closeOnce sync.Once
	closing   chan struct{}
	done      chan struct{}
	janitorWG sync.WaitGroup

	stats counters

	// budget keeps the error-budget learner's state with the entries.
	budget *BudgetStore
}

// pendingVec is a vector of an entry not yet in the vector store.
type pendingVec struct {
	key    Key
	entry  *Entry
	vector []float32
}

// groupKey names a similarity group: the records one search can see.
func groupKey(ns, partition string) string { return ns + "\x00" + partition }

type counters struct {
	// inflight counts jobs queued and not yet written and indexed or
	// parked (Flush waits for 0).
	inflight                                      atomic.Int64
	queued, dropped, waited, written, writeErrors atomic.Uint64
	aliases, aliasesDropped                       atomic.Uint64
	embedErrors, storeErrors                      atomic.Uint64
	wbEmbedErrors, indexErrors, janitorErrors     atomic.Uint64
	indexedN, replayed, indexDropped              atomic.Uint64
	evicted, expired                              atomic.Uint64
	backlog                                       atomic.Int64
}

// Stats are the cache's counters since it opened.
type Stats struct {
	Hot         HotStats
	DiskEntries int
	// Queued counts the entries the write-back queue accepted (aliases
	// not included); Dropped those that found it full and stay in the
	// hot tier only; Written those it is done with.
	Queued  uint64
	Dropped uint64
	Written uint64
	// WriteErrors counts the entries the disk tier failed to persist.
	WriteErrors uint64
	// EmbedErrors and StoreErrors count every failed embedder and vector
	// store call (lookups, write-back, janitor, admin search). Of those,
	// WriteBackEmbedErrors are the write-back's embedding calls,
	// IndexErrors the write-back's vector-store calls (retried from the
	// backlog) and JanitorErrors the janitor's deletions.
	EmbedErrors          uint64
	StoreErrors          uint64
	WriteBackEmbedErrors uint64
	IndexErrors          uint64
	JanitorErrors        uint64
	// QueueLen counts the jobs queued or being written (entries and
	// aliases): 0 once everything handed to the write-back has landed.
	QueueLen int
	// Aliases counts the alias records written; AliasesDropped those
	// that found the queue full (aliases never wait).
	Aliases, AliasesDropped uint64
	// Waited counts the Puts that found the queue full and waited for
	// room (backpressure).
	Waited uint64
	// Indexed counts the records the vector store took; Replayed those
	// among them that came from the journal (a restart or a store outage);
	// IndexBacklog is what waits for the store now; IndexDropped what was
	// past the backlog's bound (exact tier only).
	Indexed, Replayed uint64
	IndexBacklog      int64
	IndexDropped      uint64
	// Evicted counts entries evicted by quotas; Expired those the janitor
	// purged.
	Evicted, Expired uint64
}

// Defaults of Options and SemanticOptions (the flags of semcache serve
// refer to them).
const (
	DefaultMaxBytes      = 256 << 20
	DefaultTTL           = 24 * time.Hour
	DefaultTopK          = 5
	DefaultEmbedTimeout  = 150 * time.Millisecond
	DefaultSearchTimeout = 100 * time.Millisecond
)

// MinContextAnswerWords is the fewest words the earlier assistant turns of
// a conversation need to vouch for its context (ContextAnswersVouch): a
// short answer ("Yes.") can be the same for different questions.
const MinContextAnswerWords = 20

// shortAnswers marks the fingerprint of answers too short to vouch.
const shortAnswers = "short:"

// ContextAnswersFingerprint fingerprints the turns of a conversation that
// are not the user's (the assistant's answers, tool calls and results),
// given in order in their canonical form, with the assistant's words
// counted: "" when there are none. Two conversations with different
// fingerprints went differently, whatever their users asked.
func ContextAnswersFingerprint(turns [][]byte, words int) string {
	if len(turns) == 0 {
		return ""
	}
	h := sha256.New()
	var n [8]byte
	for _, t := range turns {
		binary.BigEndian.PutUint64(n[:], uint64(len(t)))
		h.Write(n[:])
		h.Write(t)
	}
	fp := hex.EncodeToString(h.Sum(nil)[:16])
	if words < MinContextAnswerWords {
		return shortAnswers + fp
	}
	return fp
}

// ContextAnswersVouch reports whether a fingerprint's answers are long
// enough that two conversations sharing them continue the same exchange,
// however their user turns were worded.
func ContextAnswersVouch(fp string) bool {
	return fp != "" && !strings.HasPrefix(fp, shortAnswers)
}

// EmbedText joins a context and a prompt as the similarity tier embeds
// them: the prompt, after its context when it has one (so the candidates
// of a follow-up come from conversations like this one).
func EmbedText(prompt, context string) string {
	if context == "" {
		return prompt
	}
	return context + "\n" + prompt
}

// TTL is the lifetime of an entry whose request did not ask for another.
func (c *Cache) TTL() time.Duration { return c.pol.Load().ttl }

// Open creates a cache, opening the disk tier when Dir is set.
func Open(opts Options) (*Cache, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.QueueWait == 0 {
		opts.QueueWait = DefaultQueueWait
	}
	if opts.IndexBacklog == 0 {
		opts.IndexBacklog = DefaultIndexBacklog
	}
	if opts.JanitorInterval == 0 {
		opts.JanitorInterval = DefaultJanitorInterval
	}
	if opts.linger == 0 {
		opts.linger = batchLinger
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if s := opts.Semantic; s != nil {
		sc := *s
		fillSemanticDefaults(&sc)
		opts.Semantic = &sc
	}
	hot, err := newHotTier(opts.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("cache: hot tier: %w", err)
	}
	c := &Cache{
		opts:         opts,
		now:          opts.Now,
		log:          opts.Logger,
		hot:          hot,
		pending:      map[Key]*Entry{},
		pendingVecs:  map[string][]pendingVec{},
		inval:        map[string]time.Time{},
		sources:      map[string]map[Key]struct{}{},
		queue:        make(chan writeJob, opts.QueueSize),
		index:        make(chan indexJob, 16),
		ackWake:      make(chan struct{}, 1),
		flushWake:    make(chan struct{}, 1),
		overflowWake: make(chan struct{}, 1),
		usage:        newUsage(),
		closing:      make(chan struct{}),
		done:         make(chan struct{}),
	}
	c.pol.Store(&policy{ttl: opts.TTL, maxTTL: opts.MaxTTL, quota: opts.Quota, sem: opts.Semantic})
	if opts.Dir != "" {
		d, err := openDiskTier(opts.Dir)
		if err != nil {
			hot.close()
			return nil, err
		}
		c.disk = d
		inval, err := d.invalidations()
		if err != nil {
			d.close()
			hot.close()
			return nil, fmt.Errorf("cache: read invalidations: %w", err)
		}
		c.inval = inval
		err = d.eachMeta(func(k Key, m metaRecord) {
			c.usage.add(m.Namespace, k, useRec{size: m.Size, lastHit: m.LastHit, expires: m.Expires})
		})
		if err != nil {
			d.close()
			hot.close()
			return nil, fmt.Errorf("cache: read entry records: %w", err)
		}
		c.usage.takeDirty()
		c.journalN.Store(int64(d.journalLen()))
	}
	c.budget = newBudgetStore(c.disk)
	go c.writer()
	go c.indexer()
	c.startJanitor()
	return c, nil
}

// Tier names where an answer came from.
type Tier string

const (
	TierNone     Tier = ""
	TierExact    Tier = "exact"
	TierSemantic Tier = "semantic"
)

// Rejection is a semantic candidate the verifier refused.
type Rejection struct {
	EntryID string
	Score   float32
	Reason  string
}

// Lookup describes a request to the cache, whatever its endpoint: the
// endpoint's wire package fills in what shapes the answer (see wire/), the
// engine adds the namespace, the salt and any embedding it already has.
type Lookup struct {
	Namespace string
	// Endpoint names the API ("chat", "responses", …); entries of different
	// endpoints never share a key or a partition.
	Endpoint string
	// Model is the model the client asked for.
	Model string
	// Key is the canonical key material: every request field that can
	// change the answer, in canonical form.
	Key []byte
	// Prompt is the text the similarity tier embeds; "" keeps the request
	// to the exact tier.
	Prompt string
	// Context is the earlier user turns of the prompt's conversation in
	// context mode ("" otherwise): the similarity tier embeds
	// EmbedText(Prompt, Context) and the verifier compares both.
	Context string
	// ContextAnswers fingerprints the earlier assistant turns
	// (ContextAnswersFingerprint): two conversations whose openings were
	// answered with the very same text (the second one's typically served
	// from this cache) continue the same exchange, however their user
	// turns were worded.
	ContextAnswers string
	// Partition is the partition material: everything in Key except the
	// prompt. Only entries with the same partition are semantic candidates.
	Partition []byte
	// Salt joins the key and partition: answer-shaping context outside the
	// request body, e.g. the version of the RAG collection whose passages
	// are injected. Answers built on other content are then never served.
	Salt string
	// SkipSemantic keeps the lookup to the exact tier.
	SkipSemantic bool
	// ScoreFloor, when positive, replaces the judge's score cut-off: every
	// candidate the rules accept scoring at least this much is returned,
	// and the caller decides (an error budget, see cache/budget).
	ScoreFloor float32
	// Vector, when set, is the prompt's embedding computed by the caller
	// (the lookup then does not embed again).
	Vector []float32
	// MaxAge, when positive, serves only entries younger than it (a
	// request's Cache-Control: max-age): older ones are a miss, in both
	// tiers.
	MaxAge time.Duration
	// MinSimilarity and MinScore, when positive, raise the namespace's
	// cut-offs for this lookup (see Cutoffs): candidate search starts at
	// the higher similarity, and an accepted candidate scoring below
	// MinScore is rejected (ReasonThreshold). They never lower them.
	MinSimilarity, MinScore float32
}

// Result is the outcome of a lookup.
type Result struct {
	Key   Key
	Tier  Tier
	Entry *Entry
	// Similarity is the cosine score of a semantic hit (or shadow hit).
	Similarity float32
	// Score is the judge's calibrated score of that hit, ScoreKind how it
	// scored it.
	Score     float32
	ScoreKind string
	// Vector is the prompt's embedding, when the similarity tier computed
	// it; write-back and RAG reuse it.
	Vector []float32
	// Rejections lists candidates the verifier refused, best first.
	Rejections []Rejection
	// Shadow is a would-be semantic hit in a shadow-mode namespace.
	Shadow *Entry
	// ViaAlias is set when the semantic hit (or shadow hit) matched an
	// alias of its entry rather than the entry's own prompt; Matched is
	// the prompt the judge compared (the alias's wording, or the entry's).
	ViaAlias bool
	Matched  string
	// AliasID is the store id of the alias that matched (when ViaAlias).
	AliasID string
	// EmbedErr and SearchErr report a failed similarity tier (the lookup
	// then degrades to a miss).
	EmbedErr, SearchErr error
	// Skipped says why the similarity tier was not asked although it
	// applies (SkipTooLong), "" otherwise.
	Skipped string
	// Stale is set when an entry (the exact one, or a semantic candidate)
	// was passed over for being older than Lookup.MaxAge.
	Stale bool
	// Latencies of each step.
	ExactTime, EmbedTime, SearchTime, JudgeTime time.Duration
}

// Get looks a request up, exact tier first, then the similarity tier.
func (c *Cache) Get(ctx context.Context, l Lookup) Result {
	res := Result{Key: l.key(), Vector: l.Vector}
	start := c.now()
	e := c.getExact(res.Key, l.Namespace)
	res.ExactTime = c.now().Sub(start)
	if e != nil && l.tooOld(e, c.now()) {
		e, res.Stale = nil, true
	}
	if e != nil {
		res.Tier, res.Entry = TierExact, e
		c.usage.touch(l.Namespace, res.Key, c.now().UnixNano())
		return res
	}
	sem := c.semantic()
	if l.SkipSemantic || sem == nil || l.Prompt == "" {
		return res
	}
	if tooLong(sem, l.Prompt, l.Context) {
		res.Skipped = SkipTooLong
		return res
	}
	c.getSemantic(ctx, sem, l, &res)
	if res.Tier == TierSemantic {
		if k, err := parseKey(res.Entry.Key); err == nil {
			c.usage.touch(l.Namespace, k, c.now().UnixNano())
		}
	}
	return res
}

// getExact checks hot, pending and disk, in that order.
func (c *Cache) getExact(k Key, ns string) *Entry {
	now := c.now()
	if e, ok := c.hot.get(k); ok && c.live(e, now) {
		return e
	}
	c.pendingMu.RLock()
	e := c.pending[k]
	c.pendingMu.RUnlock()
	if e != nil && c.live(e, now) {
		return e
	}
	if c.disk == nil || !c.usage.has(ns, k) {
		// Not on disk: the usage records list every entry there (loaded
		// at Open, added before each write-back commit, removed with
		// deletes), so a miss costs no bbolt read transaction.
		return nil
	}
	e, err := c.disk.get(k)
	if err != nil {
		c.log.Warn("cache: disk tier read failed", "err", err)
		return nil
	}
	if e == nil || e.Namespace != ns || !c.live(e, now) {
		return nil
	}
	c.hot.set(k, e, e.ExpiresAt.Sub(now))
	return e
}

// live reports whether e is unexpired and not invalidated.
func (c *Cache) live(e *Entry, now time.Time) bool {
	if e.Expired(now) {
		return false
	}
	c.invalMu.RLock()
	before, ok := c.inval[e.Namespace]
	parent, pok := c.inval[ParentNamespace(e.Namespace)]
	c.invalMu.RUnlock()
	return (!ok || e.CreatedAt.After(before)) && (!pok || e.CreatedAt.After(parent))
}

func (s *SemanticOptions) threshold(ns string) float32 {
	if t, ok := s.Thresholds[ns]; ok {
		return t
	}
	if t, ok := s.Thresholds[ParentNamespace(ns)]; ok {
		return t
	}
	return s.Threshold
}

func (c *Cache) getSemantic(ctx context.Context, sem *SemanticOptions, l Lookup, res *Result) {
	threshold := sem.threshold(l.Namespace)
	if threshold > 1 {
		return
	}
	threshold = max(threshold, l.MinSimilarity)
	if res.Vector == nil {
		start := c.now()
		ectx, cancel := context.WithTimeout(ctx, sem.EmbedTimeout)
		vec, err := c.embedOne(ectx, sem, embedText(sem, l.Prompt, l.Context))
		cancel()
		res.EmbedTime = c.now().Sub(start)
		if err != nil {
			c.stats.embedErrors.Add(1)
			res.EmbedErr = err
			return
		}
		res.Vector = vec
	}
	partition := l.partition()
	start := c.now()
	sctx, cancel := context.WithTimeout(ctx, sem.SearchTimeout)
	hits, err := sem.Index.Search(sctx, vectorstore.Query{
		Vector:   res.Vector,
		K:        sem.TopK,
		MinScore: threshold,
		Filter:   vectorstore.Filter{Namespace: l.Namespace, Partition: &partition},
	})
	cancel()
	res.SearchTime = c.now().Sub(start)
	if err != nil {
		c.stats.storeErrors.Add(1)
		res.SearchErr = err
		return
	}
	now := c.now()
	cands := make([]candidate, 0, len(hits)+1)
	for _, h := range hits {
		if e, decoded := c.hitEntry(&h.Record); e != nil {
			cands = append(cands, candidate{entry: e, score: h.Score, decoded: decoded})
		}
	}
	cands = c.pendingCandidates(l.Namespace, partition, res.Vector, threshold, sem.TopK, cands)
	// Live candidates of the query's group, each with the entry it serves.
	live := cands[:0]
	for _, cand := range cands {
		e := cand.entry
		// Defence in depth: never trust a store's filter with another
		// tenant's answer.
		if e.Namespace != l.Namespace || e.Partition != partition || !c.live(e, now) {
			continue
		}
		cand.served = e
		if e.AliasOf == "" && (len(e.Variants) > 0 || cand.decoded) {
			// The entry itself holds the turn counter its hits rotate
			// with (and maybe more variants than this record: a record
			// indexed before its key's later answers has none).
			if k, err := parseKey(e.Key); err == nil {
				if cur := c.getExact(k, l.Namespace); cur != nil {
					cand.served = cur
				}
			}
		}
		if e.AliasOf != "" {
			// An alias carries the wording it was created for (judged
			// below) and a copy of its entry; the entry itself, when this
			// process has it, is the current answer.
			cand.served = e.aliasTarget()
			if k, err := parseKey(e.AliasOf); err == nil {
				if cur := c.getExact(k, l.Namespace); cur != nil {
					cand.served = cur
				}
			}
		}
		if l.tooOld(cand.served, now) {
			res.Stale = true
			continue
		}
		live = append(live, cand)
	}
	if len(live) == 0 {
		return
	}
	best := -1
	if sem.Verify == nil {
		if l.MinScore > 0 && live[0].score < l.MinScore {
			res.Rejections = append(res.Rejections, Rejection{EntryID: live[0].served.ID, Score: live[0].score, Reason: ReasonThreshold})
			return
		}
		best = 0
		res.Score = live[0].score
	} else {
		jc := make([]Candidate, len(live), len(live)+2)
		// An alias finds its entry by the wording it was created for, but
		// the rules still hold against the entry's own prompt: a query
		// that differs from the original in a vetoed way ("... in
		// Germany", a swapped role) is not served through a looser
		// paraphrase of it.
		origOf := map[int]int{}
		for i, cand := range live {
			jc[i] = Candidate{Text: cand.entry.text(), Similarity: cand.score, MinScore: l.ScoreFloor}
			if cand.entry.AliasOf != "" {
				origOf[i] = len(jc)
				jc = append(jc, Candidate{Text: cand.served.text(), Similarity: cand.score, RulesOnly: true})
			}
		}
		start := c.now()
		js := sem.Verify.Judge(ctx, Text{Prompt: l.Prompt, Context: l.Context, ContextAnswers: l.ContextAnswers}, jc)
		res.JudgeTime = c.now().Sub(start)
		for i, k := range origOf {
			if k < len(js) && js[k].Rule && js[i].OK {
				js[i] = js[k]
			}
		}
		for i, j := range js {
			if i >= len(live) {
				break
			}
			if j.OK && l.MinScore > 0 && j.Score < l.MinScore {
				j = Judgement{Reason: ReasonThreshold, Score: j.Score}
			}
			if !j.OK {
				res.Rejections = append(res.Rejections, Rejection{EntryID: live[i].served.ID, Score: live[i].score, Reason: j.Reason})
				continue
			}
			if best < 0 || j.Score > res.Score {
				best, res.Score, res.ScoreKind = i, j.Score, j.Kind
			}
		}
	}
	if best < 0 {
		return
	}
	cand := live[best]
	res.ViaAlias, res.Matched = cand.entry.AliasOf != "", cand.entry.Prompt
	if res.ViaAlias {
		res.AliasID = aliasID(cand.entry.AliasOf, EmbedText(cand.entry.Prompt, cand.entry.Context))
	}
	if sem.ShadowAll || sem.Shadow[l.Namespace] || sem.Shadow[ParentNamespace(l.Namespace)] {
		res.Shadow, res.Similarity = cand.served, cand.score
		return
	}
	res.Tier, res.Entry, res.Similarity = TierSemantic, cand.served, cand.score
}

// maxAliases bounds the aliases of one entry: an alias takes one of this
// many slots, chosen by a hash of its wording (a newer wording in the same
// slot replaces the older one). Alias record ids derive from the entry key,
// so deleting an entry deletes its aliases without a search.
const maxAliases = 4

// aliasID is the vector-store id of the alias of entry key for prompt.
func aliasID(key, prompt string) string {
	h := fnv.New32a()
	h.Write([]byte(prompt))
	return key + "~" + strconv.Itoa(int(h.Sum32()%maxAliases))
}

// appendAliasIDs appends the ids of every alias slot of entry key.
func appendAliasIDs(ids []string, key string) []string {
	for i := range maxAliases {
		ids = append(ids, key+"~"+strconv.Itoa(i))
	}
	return ids
}

// candidate is a semantic candidate before verification: the record the
// store returned (an entry, or an alias of one) and the entry it serves.
type candidate struct {
	entry, served *Entry
	score         float32
	// decoded is set when entry was decoded from the store's record
	// rather than taken from the hot tier.
	decoded bool
}

// hitEntry is the entry a search hit stands for: the hot tier's when it
// holds the record's entry (the common case for recent answers: no JSON
// decoding on the lookup path), else the record's payload decoded
// (decoded true); nil when that fails. An alias record is always decoded
// (it carries the wording it was created for).
func (c *Cache) hitEntry(r *vectorstore.Record) (e *Entry, decoded bool) {
	if len(r.ID) == 2*len(Key{}) {
		if k, err := parseKey(r.ID); err == nil {
			if e, ok := c.hot.get(k); ok && e.Key == r.ID && e.AliasOf == "" {
				return e, false
			}
		}
	}
	e, err := UnmarshalEntry(r.Payload)
	if err != nil {
		return nil, false
	}
	return e, true
}

// pendingCandidates merges into cands (best first, as the store returned
// them) the pending vectors of the group scoring at least threshold, so
// an answer written a moment ago is findable before the write-back indexes
// it. Entries the store already returned are not repeated.
func (c *Cache) pendingCandidates(ns, partition string, vec []float32, threshold float32, topK int, cands []candidate) []candidate {
	c.pendingMu.RLock()
	defer c.pendingMu.RUnlock()
	pv := c.pendingVecs[groupKey(ns, partition)]
	if len(pv) == 0 {
		return cands
	}
	// Best first; of the pending, at most topK can make the cut, so only
	// the best topK+len(cands) are kept while scanning: no sort of every
	// pending answer on every lookup. That is enough unless more than
	// len(cands) of them repeat an entry already taken.
	if merged, ok := mergePending(pv, vec, threshold, topK, cands, topK+len(cands)); ok {
		return merged
	}
	// More repeats than that (an entry pending several times): select
	// from all of them.
	merged, _ := mergePending(pv, vec, threshold, topK, cands, len(pv))
	return merged
}

// mergePending merges into cands the best pending vectors scoring at least
// threshold, keeping at most keep of them while scanning (in descending
// score, ties in scan order). ok is false when that bound cut candidates
// the merge then lacked: the caller retries with keep = len(pv).
func mergePending(pv []pendingVec, vec []float32, threshold float32, topK int, cands []candidate, keep int) ([]candidate, bool) {
	extra := make([]candidate, 0, min(keep, 16))
	cut := false
	for _, p := range pv {
		if len(p.vector) != len(vec) {
			continue
		}
		score := dot(p.vector, vec)
		if score < threshold {
			continue
		}
		if len(extra) == keep {
			cut = true
			if keep == 0 || score <= extra[keep-1].score {
				continue
			}
			extra = extra[:keep-1]
		}
		// After every candidate scoring at least as much: a stable order.
		i := len(extra)
		for i > 0 && extra[i-1].score < score {
			i--
		}
		extra = slices.Insert(extra, i, candidate{entry: p.entry, score: score})
	}
	if len(extra) == 0 && !cut {
		return cands, true
	}
	merged := slices.Clone(cands)
	fromStore := len(cands)
	for _, p := range extra {
		if len(merged)-fromStore >= topK {
			break
		}
		dup := false
		for _, x := range merged {
			if x.entry == p.entry || x.entry.Key == p.entry.Key && x.entry.Prompt == p.entry.Prompt && x.entry.Context == p.entry.Context {
				dup = true
				break
			}
		}
		if !dup {
			merged = append(merged, p)
		}
	}
	if cut && len(merged)-fromStore < topK {
		return cands, false
	}
	slices.SortStableFunc(merged, func(x, y candidate) int { return cmp.Compare(y.score, x.score) })
	if len(merged) > topK {
		merged = merged[:topK]
	}
	return merged, true
}

// dot is the inner product of two equal-length vectors (SIMD: the
// pending answers' vectors are scanned on every semantic lookup).
func dot(a, b []float32) float32 { return vek32.Dot(a, b) }

// AnswerSimilarity embeds two answers with the similarity tier's embedder
// and returns their cosine similarity. Shadow mode uses it to tell how far
// a would-be hit's cached answer is from the fresh upstream answer.
func (c *Cache) AnswerSimilarity(ctx context.Context, a, b string) (float32, error) {
	sem := c.semantic()
	if sem == nil {
		return 0, errors.New("cache: no similarity tier")
	}
	vecs, err := sem.Embedder.Embed(ctx, []string{a, b})
	if err != nil {
		return 0, fmt.Errorf("cache: embed answers: %w", err)
	}
	if len(vecs) != 2 || len(vecs[0]) != len(vecs[1]) {
		return 0, errors.New("cache: embedder returned malformed vectors")
	}
	var dot float32
	for i := range vecs[0] {
		dot += vecs[0][i] * vecs[1][i]
	}
	return dot, nil
}

// PurgeSources deletes every entry built on any of the given RAG chunk ids
// from every tier, and reports how many entries it removed.
func (c *Cache) PurgeSources(ctx context.Context, sources []string) (int, error) {
	if err := c.Flush(ctx); err != nil {
		return 0, err
	}
	keys := map[Key]struct{}{}
	c.sourcesMu.Lock()
	for _, src := range sources {
		for k := range c.sources[src] {
			keys[k] = struct{}{}
		}
		delete(c.sources, src)
	}
	c.sourcesMu.Unlock()
	if c.disk != nil {
		ks, err := c.disk.takeKeysBySource(sources)
		if err != nil {
			return 0, fmt.Errorf("cache: purge sources: %w", err)
		}
		for _, k := range ks {
			keys[k] = struct{}{}
		}
	}
	return c.deleteKeys(ctx, keys)
}

// deleteKeys removes entries from every tier.
func (c *Cache) deleteKeys(ctx context.Context, keys map[Key]struct{}) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	list := make([]Key, 0, len(keys))
	ids := make([]string, 0, len(keys))
	c.pendingMu.Lock()
	for k := range keys {
		c.hot.del(k)
		delete(c.pending, k)
		list = append(list, k)
		ids = append(ids, k.String())
	}
	c.pendingMu.Unlock()
	c.hot.rc.Wait()
	c.budget.forget(list)
	var errs []error
	if c.disk != nil {
		if err := c.disk.delete(list); err != nil {
			errs = append(errs, fmt.Errorf("cache: delete from disk: %w", err))
		}
	}
	c.usage.remove(list)
	if sem := c.semantic(); sem != nil {
		for _, k := range list {
			ids = appendAliasIDs(ids, k.String())
		}
		if err := sem.Index.Delete(ctx, ids); err != nil {
			errs = append(errs, fmt.Errorf("cache: delete from similarity tier: %w", err))
		}
	}
	return len(list), errors.Join(errs...)
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	s := Stats{
		Hot:                  c.hot.stats(),
		Queued:               c.stats.queued.Load(),
		Dropped:              c.stats.dropped.Load(),
		Written:              c.stats.written.Load(),
		WriteErrors:          c.stats.writeErrors.Load(),
		EmbedErrors:          c.stats.embedErrors.Load(),
		StoreErrors:          c.stats.storeErrors.Load(),
		WriteBackEmbedErrors: c.stats.wbEmbedErrors.Load(),
		IndexErrors:          c.stats.indexErrors.Load(),
		JanitorErrors:        c.stats.janitorErrors.Load(),
		QueueLen:             int(c.stats.inflight.Load()),
		Aliases:              c.stats.aliases.Load(),
		AliasesDropped:       c.stats.aliasesDropped.Load(),
		Waited:               c.stats.waited.Load(),
		Indexed:              c.stats.indexedN.Load(),
		Replayed:             c.stats.replayed.Load(),
		IndexBacklog:         c.stats.backlog.Load(),
		IndexDropped:         c.stats.indexDropped.Load(),
		Evicted:              c.stats.evicted.Load(),
		Expired:              c.stats.expired.Load(),
	}
	if c.disk != nil {
		s.DiskEntries = c.disk.count()
	}
	return s
}

// Close drains the write-back queue and closes the tiers. It does not close
// the similarity tier's index or embedder, which the caller owns.
func (c *Cache) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closing)
		<-c.done
		c.janitorWG.Wait()
		c.hot.close()
		if c.disk != nil {
			err = errors.Join(c.budget.Flush(), c.disk.close())
		}
	})
	return err
}
