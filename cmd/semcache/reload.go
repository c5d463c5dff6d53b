package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/budget"
	"github.com/semcache/semcache/engine"
)

// Defaults of the lifecycle flags (--drain-timeout, --config-watch).
const (
	defaultDrainTimeout = 5 * time.Minute
	defaultConfigWatch  = 5 * time.Second
)

type reloadKey struct{}

// withReload attaches a reload trigger to ctx: main sends SIGHUP on it,
// tests their own channel. Without one, serve reloads only on a change of
// the config file.
func withReload(ctx context.Context, ch <-chan os.Signal) context.Context {
	return context.WithValue(ctx, reloadKey{}, ch)
}

func reloadTrigger(ctx context.Context) <-chan os.Signal {
	ch, _ := ctx.Value(reloadKey{}).(<-chan os.Signal)
	return ch
}

// restartOnly lists the settings a reload cannot change, each with how to
// read it. A reload that changes one logs it as ignored; the rest of the
// new config applies.
var restartOnly = []struct {
	name string
	get  func(c *config) string
}{
	{"listen", func(c *config) string { return c.Listen }},
	{"admin-listen", func(c *config) string { return c.AdminListen }},
	{"admin-token", func(c *config) string { return c.AdminToken }},
	{"data-dir", func(c *config) string { return c.DataDir }},
	{"store", func(c *config) string { return c.Store }},
	{"pg-dsn", func(c *config) string { return c.PGDSN }},
	{"qdrant-addr", func(c *config) string { return c.QdrantAddr + c.QdrantKey + strconv.FormatBool(c.QdrantTLS) }},
	{"embedder", func(c *config) string {
		return c.Embedder + c.ModelDir + c.EmbedURL + c.EmbedModel + c.EmbedKey + strconv.Itoa(c.EmbedDim)
	}},
	{"wordvec-dir/wordnet-dir", func(c *config) string { return c.WordvecDir + "\x00" + c.WordnetDir }},
	{"semantic (on/off)", func(c *config) string { return strconv.FormatBool(c.Semantic == "off") }},
	{"semantic-mode", func(c *config) string { return c.SemanticMode }},
	{"cache-max-bytes", func(c *config) string { return c.CacheMaxBytes }},
	{"max-body-bytes", func(c *config) string { return c.MaxBodyBytes }},
	{"upstream-timeout", func(c *config) string { return c.UpstreamTimeout.String() }},
	{"speculative-upstream", func(c *config) string { return c.SpeculativeUpstream.String() }},
	{"complete-on-disconnect", func(c *config) string { return strconv.FormatBool(c.CompleteOnDisconnect) }},
	{"extproc-listen", func(c *config) string { return c.ExtProc + c.ExtProcBudget.String() }},
	{"rag (on/off)", func(c *config) string { return strconv.FormatBool(c.RAG == "on" && len(c.file.RAG.Collections) > 0) }},
	{"rag-sources-field", func(c *config) string { return strconv.FormatBool(c.SourcesField) }},
	{"log-level/log-format", func(c *config) string { return c.LogLevel + c.LogFormat }},
	{"metrics-max-namespaces", func(c *config) string { return strconv.Itoa(c.MaxNamespace) }},
	{"janitor-interval", func(c *config) string { return c.JanitorInterval.String() }},
	{"config-watch", func(c *config) string { return c.ConfigWatch.String() }},
	{"body-timeout/max-connections/max-inflight/max-body-inflight", func(c *config) string {
		return c.BodyTimeout.String() + strconv.Itoa(c.MaxConnections) + "/" + strconv.Itoa(c.MaxInFlight) + "/" + c.MaxBodyInFlight
	}},
	{"passthrough", func(c *config) string {
		if c.file.Passthrough == nil {
			return "default"
		}
		return strings.Join(*c.file.Passthrough, ",")
	}},
	{"extproc-tls-cert/extproc-tls-key/extproc-client-ca/extproc-token", func(c *config) string {
		return c.ExtProcTLSCert + "\x00" + c.ExtProcTLSKey + "\x00" + c.ExtProcClientCA + "\x00" + c.ExtProcToken
	}},
}

// maxTTL is the cap of client TTLs: --max-ttl, or --ttl when unset.
func (c *config) maxTTL() time.Duration {
	if c.MaxTTL > 0 {
		return c.MaxTTL
	}
	return c.TTL
}

func (c *config) quota() cache.Quota {
	return cache.Quota{Entries: c.QuotaEntries, Bytes: c.quotaBytes}
}

// watchReload reloads the config on every signal of the reload trigger
// and, with --config-watch, whenever the config file's content changes
// (polled: it sees editors' rename-and-replace and Kubernetes ConfigMap
// symlink swaps alike, without a file-notification dependency). It
// returns when ctx is done.
func (s *service) watchReload(ctx context.Context) {
	sig := reloadTrigger(ctx)
	var tick <-chan time.Time
	cfg := s.cfg
	var last [sha256.Size]byte
	if cfg.ConfigFile != "" && cfg.ConfigWatch > 0 {
		last, _ = fileHash(cfg.ConfigFile)
		t := time.NewTicker(cfg.ConfigWatch)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			if h, err := fileHash(cfg.ConfigFile); err == nil {
				last = h
			}
			_ = s.reload(ctx, "signal")
		case <-tick:
			h, err := fileHash(cfg.ConfigFile)
			if err != nil || bytes.Equal(h[:], last[:]) {
				continue
			}
			last = h
			_ = s.reload(ctx, "file change")
		}
	}
}

func fileHash(path string) ([sha256.Size]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// reload parses the arguments, environment and config file again and
// applies what can change while serving: tenants, thresholds and the
// verifier's cut-offs, shadow namespaces, TTL, max TTL, quotas, prices,
// RAG collections, the upstream URL and key, the drain timeout, client
// authentication and its keys, the key headers, the similarity tier's
// bounds, the cache rules, the error budgets and the cap on their
// explorations. Requests
// under way keep the config they started with; no connection is touched.
// A config that does not validate is rejected whole and logged, and the
// running one stays.
func (s *service) reload(ctx context.Context, trigger string) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	err := s.applyReload(ctx, trigger)
	if err != nil {
		s.reloads.WithLabelValues("rejected").Inc()
		s.log.Error("config reload rejected; the running config stays", "trigger", trigger, "err", err)
		return err
	}
	s.reloads.WithLabelValues("ok").Inc()
	return nil
}

func (s *service) applyReload(ctx context.Context, trigger string) error {
	next, _, err := parseConfig("serve", s.cfg.args)
	if err != nil {
		return err
	}
	cur := s.live.Load()
	for _, r := range restartOnly {
		if r.get(cur) != r.get(next) {
			s.log.Warn("config reload: this setting changes only with a restart; ignored", "setting", r.name)
		}
	}
	// Build and validate everything first, then apply.
	pol := cache.Policy{TTL: next.TTL, MaxTTL: next.maxTTL(), Quota: next.quota()}
	if s.sem != nil {
		o, err := s.sem.options(next)
		if err != nil {
			return err
		}
		pol.Semantic = &o
	}
	nsr, err := engine.NewNamespacer(next.file.Tenants, next.SharedNamespace)
	if err != nil {
		return fmt.Errorf("tenants: %w", err)
	}
	ep := engine.Policy{Namespaces: nsr, MaxTTL: next.maxTTL(), Prices: next.file.Prices,
		ClientAuth: next.clientAuth, KeyHeaders: next.keyHeaders, Rules: next.file.CacheRules.rules,
		Answers: next.answers()}
	if s.rag != nil {
		ep.Enricher = s.rag
	}
	learner := s.engine.Budget()
	if learner != nil {
		if err := budget.CheckBudgets(next.ErrorBudget, next.file.ErrorBudgets, next.VerifyMaxFraction); err != nil {
			return err
		}
	}
	if err := s.cache.Reconfigure(pol); err != nil {
		return err
	}
	if s.rag != nil {
		colls := next.file.RAG.Collections
		if next.RAG == "off" {
			colls = nil
		}
		if err := s.rag.SetCollections(ctx, colls); err != nil {
			s.log.Warn("config reload: RAG collection versions not read yet", "err", err)
		}
	}
	if err := s.engine.SetPolicy(ep); err != nil {
		return err
	}
	if err := s.api.SetUpstream(next.upstreamURL, next.UpstreamKey); err != nil {
		return err
	}
	if learner != nil {
		if err := learner.SetBudgets(next.ErrorBudget, next.file.ErrorBudgets, next.VerifyMaxFraction); err != nil {
			return err
		}
	}
	s.live.Store(next)
	s.log.Info("config reloaded", "trigger", trigger, "upstream", next.upstreamURL.Redacted(), "tenants", len(next.file.Tenants),
		"ttl", next.TTL, "max_ttl", next.maxTTL(), "quota_entries", next.QuotaEntries, "quota_bytes", next.quotaBytes)
	return nil
}
