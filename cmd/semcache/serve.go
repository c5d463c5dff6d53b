package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/proxy"
	"github.com/semcache/semcache/rag"
	"github.com/semcache/semcache/wire"
)

func newLogger(c *config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redact}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// redact keeps secrets out of logs whatever a caller passes.
func redact(_ []string, a slog.Attr) slog.Attr {
	switch strings.ToLower(a.Key) {
	case "authorization", "api_key", "api-key", "upstream_key", "embed_key", "admin_token", "password", "dsn":
		return slog.String(a.Key, "[redacted]")
	}
	return a
}

// service is a running semcache: its servers and what they share.
type service struct {
	// cfg is the config semcache started with; live the one in force (a
	// reload swaps it; see reload.go).
	cfg     *config
	live    atomic.Pointer[config]
	log     *slog.Logger
	cache   *cache.Cache
	engine  *engine.Engine
	api     *proxy.Server
	sem     *semantic    // nil with --semantic off
	rag     *rag.Service // nil without RAG collections
	closers []func() error
	ready   chan struct{}
	// draining is set when shutdown starts: /readyz answers 503.
	draining atomic.Bool
	reloadMu sync.Mutex
	reloads  *prometheus.CounterVec
	// loading are stores still loading in the background (see openStore).
	loading []interface{ Ready() bool }
	// APIAddr and AdminAddr are the bound addresses (useful with port 0).
	APIAddr, AdminAddr string
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, fs, err := parseConfig("serve", args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stderr, "usage: semcache serve [flags]   (every flag also as SEMCACHE_<NAME> or a key in --config FILE)")
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return nil
	}
	if err != nil {
		if fs != nil && !strings.HasPrefix(err.Error(), "invalid configuration") {
			fmt.Fprintln(stderr, err)
		}
		return err
	}
	log := newLogger(cfg, stderr)
	return serve(ctx, cfg, log, stdout)
}

// serve builds everything, listens, and blocks until ctx is done.
func serve(ctx context.Context, cfg *config, log *slog.Logger, stdout io.Writer) error {
	s := &service{cfg: cfg, log: log, ready: make(chan struct{})}
	s.live.Store(cfg)
	defer s.close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := engine.NewMetrics(reg, cfg.MaxNamespace, cfg.file.Prices)
	s.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "semcache_config_reloads_total", Help: "Config reloads (SIGHUP or a changed --config file), by result: ok or rejected.",
	}, []string{"result"})
	reg.MustRegister(s.reloads)
	s.reloads.WithLabelValues("ok") // at 0 before the first reload
	s.reloads.WithLabelValues("rejected")

	sem, err := s.openSemantic(ctx)
	if err != nil {
		return err
	}
	s.sem = sem
	if sem != nil && sem.reasons != nil {
		metrics.PreRegisterReasons(sem.reasons)
	}
	if sem != nil {
		reg.MustRegister(embedStackCollector{sem.stack})
	}
	copts := cache.Options{
		MaxBytes:        cfg.cacheMaxBytes,
		TTL:             cfg.TTL,
		MaxTTL:          cfg.maxTTL(),
		Quota:           cfg.quota(),
		JanitorInterval: cfg.JanitorInterval,
		Dir:             cfg.DataDir,
		Logger:          log,
	}
	if sem != nil {
		copts.Semantic = &sem.opts
	}
	c, err := cache.Open(copts)
	if err != nil {
		return err
	}
	s.cache = c
	s.closers = append(s.closers, c.Close)

	nsr, err := engine.NewNamespacer(cfg.file.Tenants, cfg.SharedNamespace)
	if err != nil {
		return err
	}
	enricher, err := s.openRAG(ctx, sem, c)
	if err != nil {
		return err
	}
	learner, err := s.openBudget(c)
	if err != nil {
		return err
	}
	eng, err := engine.New(engine.Options{
		Cache: c, Namespaces: nsr, Metrics: metrics, Mode: wire.PromptMode(cfg.SemanticMode), Logger: log, Enricher: enricher,
		SourcesField: cfg.SourcesField, MaxTTL: cfg.maxTTL(), ClientAuth: cfg.clientAuth, KeyHeaders: cfg.keyHeaders,
		MaxBodyBytes: cfg.maxBodyBytes, Budget: learner, Rules: cfg.file.CacheRules.rules, Answers: cfg.answers(),
	})
	if err != nil {
		return err
	}
	s.engine = eng
	api, err := proxy.NewServer(proxy.ServerOptions{
		Engine:               eng,
		Upstream:             cfg.upstreamURL,
		UpstreamKey:          cfg.UpstreamKey,
		MaxBodyBytes:         cfg.maxBodyBytes,
		UpstreamTimeout:      cfg.UpstreamTimeout,
		SpeculativeUpstream:  cfg.SpeculativeUpstream,
		CompleteOnDisconnect: cfg.CompleteOnDisconnect,
		BodyReadTimeout:      cfg.BodyTimeout,
		MaxConnections:       cfg.MaxConnections,
		MaxInFlight:          cfg.MaxInFlight,
		MaxBodyBytesInFlight: cfg.maxBodyInFlight,
		Passthrough:          cfg.passthrough,
		Logger:               log,
	})
	if err != nil {
		return err
	}
	s.api = api

	apiLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("admin listen %s: %w", cfg.AdminListen, err)
	}
	s.APIAddr, s.AdminAddr = apiLn.Addr().String(), adminLn.Addr().String()

	apiSrv := api.HTTPServer(cfg.Listen)
	apiLn = api.Listener(apiLn)
	adminSrv := &http.Server{Handler: proxy.BodyDeadline(s.adminHandler(reg), cfg.BodyTimeout), ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 120 * time.Second}

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for _, p := range []struct {
		srv *http.Server
		ln  net.Listener
	}{{apiSrv, apiLn}, {adminSrv, adminLn}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.srv.Serve(p.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	stopExtProc, err := s.startExtProc(ctx, eng)
	if err != nil {
		_ = apiSrv.Close()
		_ = adminSrv.Close()
		wg.Wait()
		return err
	}
	close(s.ready)
	log.Info("semcache serving", "api", "http://"+s.APIAddr, "admin", "http://"+s.AdminAddr,
		"upstream", cfg.upstreamURL.Redacted(), "data_dir", cfg.DataDir, "semantic", cfg.Semantic)
	fmt.Fprintf(stdout, "semcache listening on http://%s (admin http://%s)\n", s.APIAddr, s.AdminAddr)

	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); s.watchReload(watchCtx) }()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	stopWatch()
	<-watched
	s.drain(apiSrv, stopExtProc)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = adminSrv.Shutdown(shutdownCtx)
	wg.Wait()
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelFlush()
	if err := c.Flush(flushCtx); err != nil {
		log.Warn("write-back queue not drained", "err", err)
	}
	log.Info("semcache stopped")
	return runErr
}

// drain stops taking requests and lets those in flight finish, streams
// included, for up to --drain-timeout; /readyz answers 503 from the
// start, so a load balancer stops sending. What is still open at the
// deadline is cut.
func (s *service) drain(apiSrv *http.Server, stopExtProc func(time.Duration)) {
	s.draining.Store(true)
	timeout := s.live.Load().DrainTimeout
	s.log.Info("draining: finishing requests in flight", "timeout", timeout)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); stopExtProc(timeout) }()
	if err := apiSrv.Shutdown(ctx); err != nil {
		s.log.Warn("drain timeout reached; cutting the connections still open", "timeout", timeout)
		_ = apiSrv.Close()
	}
	<-done
	s.log.Info("drained", "took", time.Since(start).Round(time.Millisecond))
}

func (s *service) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			s.log.Warn("close failed", "err", err)
		}
	}
}

// readiness is what /readyz reports: ready once the listeners are up and
// every store loading in the background has loaded (/healthz answers
// throughout).
func (s *service) readiness() (bool, string) {
	select {
	case <-s.ready:
	default:
		return false, "starting"
	}
	if s.draining.Load() {
		return false, "draining"
	}
	for _, st := range s.loading {
		if !st.Ready() {
			return false, "loading the vector store"
		}
	}
	return true, "ready"
}

func (s *service) adminHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		ok, state := s.readiness()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = io.WriteString(w, state+"\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.registerAdmin(mux, reg)
	s.registerRAGAdmin(mux)
	return mux
}
