package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/peterbourgon/ff/v4"
	"github.com/peterbourgon/ff/v4/ffyaml"
	"gopkg.in/yaml.v3"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/budget"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/proxy"
	"github.com/semcache/semcache/proxy/extproc"
	"github.com/semcache/semcache/vectorstore/memory"
)

// config is everything `semcache serve` can be told. Flat settings come
// from flags, SEMCACHE_* environment variables and the YAML file, in that
// order of precedence (ff/v4 does the layering); structured sections
// (tenants, prices, per-namespace thresholds, RAG routes) come from the
// YAML file only.
type config struct {
	ConfigFile  string
	Listen      string
	AdminListen string
	AdminToken  string
	Upstream    string
	UpstreamKey string
	DataDir     string

	CacheMaxBytes        string
	TTL                  time.Duration
	MaxBodyBytes         string
	SharedNamespace      string
	CompleteOnDisconnect bool
	UpstreamTimeout      time.Duration
	// SpeculativeUpstream starts the upstream call of a lookup that has not
	// decided within it (0: off; HTTP front only).
	SpeculativeUpstream time.Duration

	Semantic     string // on | off | shadow
	SemanticMode string // context | last | conversation
	Threshold    float64
	// MaxFalseHitRate and MinScore pick the verifier's cut-offs.
	MaxFalseHitRate, MinScore float64
	WordvecDir, WordnetDir    string
	TopK                      int
	// MemoryEfSearch is the embedded store's graph beam width (0: its
	// default).
	MemoryEfSearch int
	EmbedTimeout   time.Duration
	SearchTimeout  time.Duration
	Embedder       string // auto | lexical | use | openai
	ModelDir       string
	EmbedURL       string
	EmbedModel     string
	EmbedKey       string
	EmbedDim       int

	Store         string // memory | pgvector | qdrant
	PGDSN         string
	QdrantAddr    string
	QdrantKey     string
	QdrantTLS     bool
	ExtProc       string
	ExtProcBudget time.Duration
	SourcesField  bool
	LogLevel      string
	LogFormat     string
	MaxNamespace  int
	RAG           string // on | off

	// Lifecycle and growth (see reload.go).
	DrainTimeout    time.Duration
	ConfigWatch     time.Duration
	MaxTTL          time.Duration
	QuotaEntries    int
	QuotaBytes      string
	JanitorInterval time.Duration

	hardening
	answersConfig
	file fileConfig
	// args are the serve arguments, parsed again on reload.
	args []string

	// derived, filled by validate
	upstreamURL   *url.URL
	cacheMaxBytes int64
	maxBodyBytes  int64
	quotaBytes    int64

	// ErrorBudget and VerifyMaxFraction configure error budgets
	// (cache/budget).
	ErrorBudget, VerifyMaxFraction float64
}

// fileConfig holds the structured sections of the YAML file.
type fileConfig struct {
	Tenants    []engine.Tenant         `yaml:"tenants"`
	Prices     map[string]engine.Price `yaml:"prices"`
	Thresholds map[string]float64      `yaml:"thresholds"`
	Shadow     []string                `yaml:"shadow_namespaces"`
	RAG        ragConfig               `yaml:"rag"`
	// ClientKeys are the API keys --client-auth admits (raw or
	// "sha256:<hex>"), besides the tenants' keys.
	ClientKeys []string `yaml:"client_keys"`
	// KeyHeaders replaces engine.DefaultKeyHeaders (an empty list: none).
	KeyHeaders *[]string `yaml:"key_headers"`
	// Passthrough replaces engine.DefaultPassthrough (an empty list:
	// nothing is passed through).
	Passthrough *[]string `yaml:"passthrough"`

	// ErrorBudgets are per-namespace error budgets (cache/budget).
	ErrorBudgets map[string]float64 `yaml:"error_budgets"`
	// CacheRules are the cache rules (see rules.go).
	CacheRules cacheRules `yaml:"cache_rules"`
	// Variants are the answers per key of given namespaces (--variants).
	Variants map[string]int `yaml:"namespace_variants"`
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "semcache")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "semcache")
	}
	return ".semcache"
}

func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.ConfigFile, "config", "", "YAML config file (flags and SEMCACHE_* env vars override it)")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address of the OpenAI-compatible API")
	fs.StringVar(&c.AdminListen, "admin-listen", "127.0.0.1:8081", "address of /healthz, /readyz, /metrics, /dashboard and /admin")
	fs.StringVar(&c.AdminToken, "admin-token", "", "bearer token required by the admin API (empty: none)")
	fs.StringVar(&c.Upstream, "upstream", "https://api.openai.com/v1", "base URL of the OpenAI-compatible upstream")
	fs.StringVar(&c.UpstreamKey, "upstream-key", "", "API key sent upstream instead of the client's (env SEMCACHE_UPSTREAM_KEY)")
	fs.StringVar(&c.DataDir, "data-dir", defaultDataDir(), "directory for the cache, vector index and models")
	fs.StringVar(&c.CacheMaxBytes, "cache-max-bytes", humanize.IBytes(cache.DefaultMaxBytes), "memory budget of the exact hot tier")
	fs.DurationVar(&c.TTL, "ttl", cache.DefaultTTL, "default entry lifetime")
	fs.StringVar(&c.MaxBodyBytes, "max-body-bytes", humanize.IBytes(engine.DefaultMaxBodyBytes), "largest accepted request body")
	fs.StringVar(&c.SharedNamespace, "shared-namespace", "", "put every client in this one namespace (only behind your own auth)")
	fs.BoolVar(&c.CompleteOnDisconnect, "complete-on-disconnect", false, "finish reading (and cache) an upstream answer after the client left")
	fs.DurationVar(&c.UpstreamTimeout, "upstream-timeout", proxy.DefaultUpstreamTimeout, "limit for one upstream call")
	fs.DurationVar(&c.SpeculativeUpstream, "speculative-upstream", 0, "start the upstream call of a request whose lookup has not decided within this time, cancelled if a hit arrives first (may be billed for the prompt tokens of cancelled calls; counted in semcache_speculative_*); HTTP front only (0: off)")
	fs.StringVar(&c.Semantic, "semantic", "on", "similarity tier: on, off, or shadow (record would-be hits, serve from upstream)")
	fs.StringVar(&c.SemanticMode, "semantic-mode", "context", "what the similarity tier compares: context (the last user message, and the earlier user turns as its context, each verified), last (the last user message within the exact same conversation prefix) or conversation (every turn as one text)")
	fs.Float64Var(&c.Threshold, "similarity-threshold", 0, "minimum cosine of a semantic candidate; the verifier's calibrated score decides (0: the floor semcache-bench train chose for the embedder)")
	fs.Float64Var(&c.MaxFalseHitRate, "max-false-hit-rate", 0, "semantic hits: the verifier's score cut-offs that kept the false-hit rate of the evaluation within this rate (0: the model's target, 0.02)")
	fs.Float64Var(&c.ErrorBudget, "error-budget", 0, "semantic hits: the largest share of served semantic hits that may be wrong, learned online per namespace and entry (0: none, the static cut-off; error_budgets: in the file sets it per namespace)")
	fs.Float64Var(&c.VerifyMaxFraction, "verify-max-fraction", budget.DefaultMaxExploreFraction, "error budgets: the most extra upstream calls (would-be hits checked upstream), as a share of lookups")
	fs.Float64Var(&c.MinScore, "semantic-min-score", 0, "semantic hits: an explicit cut-off of the verifier's calibrated score, overriding --max-false-hit-rate (0: none)")
	fs.StringVar(&c.WordvecDir, "wordvec-dir", "", "word vectors directory (default DATA_DIR/models/wordvec-sg100d-1.1.0; used when present)")
	fs.StringVar(&c.WordnetDir, "wordnet-dir", "", "WordNet directory (default DATA_DIR/models/wordnet-3.1-db3.1.14; used when present)")
	fs.IntVar(&c.TopK, "semantic-top-k", cache.DefaultTopK, "candidates verified per semantic lookup")
	fs.DurationVar(&c.EmbedTimeout, "embed-timeout", cache.DefaultEmbedTimeout, "embedding time limit on the request path")
	fs.DurationVar(&c.SearchTimeout, "search-timeout", cache.DefaultSearchTimeout, "vector search time limit on the request path")
	fs.StringVar(&c.Embedder, "embedder", "auto", "auto (use when the model is present, else lexical), lexical, use, or openai")
	fs.StringVar(&c.ModelDir, "model-dir", "", "USE-lite model directory (default DATA_DIR/models/use-lite-en-0.2.0)")
	fs.StringVar(&c.EmbedURL, "embed-url", "", "base URL of an OpenAI-compatible /v1/embeddings API (embedder openai)")
	fs.StringVar(&c.EmbedModel, "embed-model", "text-embedding-3-small", "embedding model (embedder openai)")
	fs.StringVar(&c.EmbedKey, "embed-key", "", "API key of the embeddings API (env SEMCACHE_EMBED_KEY)")
	fs.IntVar(&c.EmbedDim, "embed-dim", 0, "embedding dimension (embedder openai; 0: probe)")
	fs.StringVar(&c.Store, "store", "memory", "vector store: memory (embedded), pgvector or qdrant")
	fs.IntVar(&c.MemoryEfSearch, "memory-ef-search", memory.DefaultEfSearch, "embedded store: beam width of a graph search (recall against latency in large partitions)")
	fs.StringVar(&c.PGDSN, "pg-dsn", "", "PostgreSQL DSN (store pgvector)")
	fs.StringVar(&c.QdrantAddr, "qdrant-addr", "", "Qdrant gRPC host:port (store qdrant)")
	fs.StringVar(&c.QdrantKey, "qdrant-key", "", "Qdrant API key")
	fs.BoolVar(&c.QdrantTLS, "qdrant-tls", false, "use TLS to Qdrant")
	fs.StringVar(&c.ExtProc, "extproc-listen", "", "serve Envoy ext_proc and ext_authz gRPC here (host:port or unix:/path)")
	fs.BoolVar(&c.SourcesField, "rag-sources-field", false, "add \"semcache\": {\"sources\": [...]} to non-stream JSON answers built with RAG passages")
	fs.DurationVar(&c.ExtProcBudget, "extproc-lookup-timeout", extproc.DefaultLookupTimeout, "ext_proc/ext_authz time budget for lookup and RAG per request body (keep it under Envoy's message_timeout)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.IntVar(&c.MaxNamespace, "metrics-max-namespaces", engine.DefaultMaxNamespaces, "namespaces with their own metric label; the rest fold into _other")
	fs.StringVar(&c.RAG, "rag", "on", "RAG context injection: on (when the config file defines rag.collections) or off")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", defaultDrainTimeout, "on SIGTERM, how long in-flight requests and streams may finish before they are cut (/readyz is 503 meanwhile)")
	fs.DurationVar(&c.ConfigWatch, "config-watch", defaultConfigWatch, "how often to check --config for changes and reload it (0: only on SIGHUP)")
	fs.DurationVar(&c.MaxTTL, "max-ttl", 0, "longest entry lifetime a client may ask for with X-Semcache-TTL (0: the --ttl value)")
	fs.IntVar(&c.QuotaEntries, "quota-entries", cache.DefaultQuotaEntries, "entries one namespace keeps; past it the least recently hit are evicted (0: unbounded)")
	fs.StringVar(&c.QuotaBytes, "quota-bytes", humanize.IBytes(cache.DefaultQuotaBytes), "bytes one namespace keeps; past it the least recently hit are evicted (0: unbounded)")
	fs.DurationVar(&c.JanitorInterval, "janitor-interval", cache.DefaultJanitorInterval, "how often expired entries are purged from disk and the vector store")
	c.hardening.flags(fs)
	c.answersConfig.flags(fs)
}

// parseConfig parses args, env and the config file into a validated config.
func parseConfig(name string, args []string) (*config, *flag.FlagSet, error) {
	c := &config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c.flags(fs)
	err := ff.Parse(fs, args,
		ff.WithEnvVarPrefix("SEMCACHE"),
		ff.WithConfigFileFlag("config"),
		ff.WithConfigFileParser(ffyaml.Parse),
		ff.WithConfigIgnoreUndefinedFlags(),
	)
	if err != nil {
		return nil, fs, err
	}
	c.args = args
	if c.ConfigFile != "" {
		b, err := os.ReadFile(c.ConfigFile)
		if err != nil {
			return nil, fs, fmt.Errorf("config: %w", err)
		}
		if err := yaml.Unmarshal(b, &c.file); err != nil {
			return nil, fs, fmt.Errorf("config: %s: %w", c.ConfigFile, err)
		}
	}
	if err := c.validate(); err != nil {
		return nil, fs, err
	}
	return c, fs, nil
}

// validate checks every setting and reports every problem at once.
func (c *config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, a := range []struct{ name, v string }{{"listen", c.Listen}, {"admin-listen", c.AdminListen}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			bad("--%s %q: want host:port", a.name, a.v)
		}
	}
	if c.ExtProcBudget <= 0 {
		bad("--extproc-lookup-timeout must be positive")
	}
	if c.ExtProc != "" && !strings.HasPrefix(c.ExtProc, "unix:") {
		if _, _, err := net.SplitHostPort(c.ExtProc); err != nil {
			bad("--extproc-listen %q: want host:port or unix:/path", c.ExtProc)
		}
	}
	u, err := url.Parse(c.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("--upstream %q: want an http(s) base URL such as https://api.openai.com/v1", c.Upstream)
	} else {
		c.upstreamURL = u
	}
	if c.DataDir == "" {
		bad("--data-dir must not be empty")
	}
	if n, err := humanize.ParseBytes(c.CacheMaxBytes); err != nil || n < 1<<20 {
		bad("--cache-max-bytes %q: want a size of at least 1MiB, e.g. 256MiB", c.CacheMaxBytes)
	} else {
		c.cacheMaxBytes = int64(n)
	}
	if n, err := humanize.ParseBytes(c.MaxBodyBytes); err != nil || n < 1024 {
		bad("--max-body-bytes %q: want a size of at least 1KiB, e.g. 8MiB", c.MaxBodyBytes)
	} else {
		c.maxBodyBytes = int64(n)
	}
	if c.TTL <= 0 {
		bad("--ttl must be positive")
	}
	if c.MaxTTL < 0 {
		bad("--max-ttl must not be negative")
	}
	if c.DrainTimeout < 0 || c.ConfigWatch < 0 || c.JanitorInterval <= 0 {
		bad("--drain-timeout and --config-watch must not be negative; --janitor-interval must be positive")
	}
	if c.QuotaEntries < 0 {
		bad("--quota-entries must not be negative")
	}
	if n, err := humanize.ParseBytes(c.QuotaBytes); err != nil {
		bad("--quota-bytes %q: want a size such as 512MiB, or 0", c.QuotaBytes)
	} else {
		c.quotaBytes = int64(n)
	}
	if c.UpstreamTimeout <= 0 {
		bad("--upstream-timeout must be positive")
	}
	if c.SpeculativeUpstream < 0 {
		bad("--speculative-upstream must not be negative")
	}
	switch c.Semantic {
	case "on", "off", "shadow":
	default:
		bad("--semantic %q: want on, off or shadow", c.Semantic)
	}
	switch c.SemanticMode {
	case "context", "last", "conversation":
	default:
		bad("--semantic-mode %q: want context, last or conversation", c.SemanticMode)
	}
	if c.Threshold < 0 || c.Threshold > 1 {
		bad("--similarity-threshold %v: want 0 (default) or a value in (0, 1]", c.Threshold)
	}
	if c.MaxFalseHitRate < 0 || c.MaxFalseHitRate >= 1 {
		bad("--max-false-hit-rate %v: want 0 (default) or a value in (0, 1)", c.MaxFalseHitRate)
	}
	if c.MinScore < 0 || c.MinScore > 1 {
		bad("--semantic-min-score %v: want 0 (none) or a value in (0, 1]", c.MinScore)
	}
	if c.ErrorBudget < 0 || c.ErrorBudget >= 1 {
		bad("--error-budget %v: want 0 (none) or a value in (0, 1)", c.ErrorBudget)
	}
	if c.VerifyMaxFraction < 0 || c.VerifyMaxFraction >= 1 {
		bad("--verify-max-fraction %v: want a value in [0, 1)", c.VerifyMaxFraction)
	}
	for ns, b := range c.file.ErrorBudgets {
		if b <= 0 || b >= 1 {
			bad("error_budgets[%s] %v: want a value in (0, 1)", ns, b)
		}
	}
	for ns, t := range c.file.Thresholds {
		if t <= 0 {
			bad("thresholds[%s] %v: must be positive (above 1 disables the tier)", ns, t)
		}
	}
	if c.MemoryEfSearch < 1 || c.MemoryEfSearch > 4096 {
		bad("--memory-ef-search %d: want 1..4096", c.MemoryEfSearch)
	}
	if c.TopK < 1 || c.TopK > 100 {
		bad("--semantic-top-k %d: want 1..100", c.TopK)
	}
	if c.EmbedTimeout <= 0 || c.SearchTimeout <= 0 {
		bad("--embed-timeout and --search-timeout must be positive")
	}
	switch c.Embedder {
	case "auto", "lexical", "use":
	case "openai":
		if c.EmbedURL == "" {
			bad("--embedder openai needs --embed-url")
		}
	default:
		bad("--embedder %q: want auto, lexical, use or openai", c.Embedder)
	}
	switch c.Store {
	case "memory":
	case "pgvector":
		if c.PGDSN == "" {
			bad("--store pgvector needs --pg-dsn")
		}
	case "qdrant":
		if _, _, err := net.SplitHostPort(c.QdrantAddr); err != nil {
			bad("--store qdrant needs --qdrant-addr host:port")
		}
	default:
		bad("--store %q: want memory, pgvector or qdrant", c.Store)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("--log-format %q: want text or json", c.LogFormat)
	}
	if c.MaxNamespace < 1 {
		bad("--metrics-max-namespaces must be at least 1")
	}
	if _, err := engine.NewNamespacer(c.file.Tenants, c.SharedNamespace); err != nil {
		bad("tenants: %w", err)
	}
	errs = append(errs, c.validateRAG()...)
	errs = append(errs, c.validateHardening()...)
	errs = append(errs, c.validateRules()...)
	errs = append(errs, c.validateAnswers()...)
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration:\n%w", errors.Join(errs...))
	}
	return nil
}
