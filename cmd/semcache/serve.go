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
	cfg     *config
	log     *slog.Logger
	cache   *cache.Cache
	engine  *engine.Engine
	rag     *rag.Service // nil without RAG collections
	closers []func() error
	ready   chan struct{}
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
	defer s.close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := engine.NewMetrics(reg, cfg.MaxNamespace, cfg.file.Prices)

	sem, err := s.openSemantic(ctx)
	if err != nil {
		return err
	}
	if sem != nil && sem.reasons != nil {
		metrics.PreRegisterReasons(sem.reasons)
	}
	copts := cache.Options{
		MaxBytes: cfg.cacheMaxBytes,
		TTL:      cfg.TTL,
		Dir:      cfg.DataDir,
		Logger:   log,
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
		SourcesField: cfg.SourcesField, Budget: learner,
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
		CompleteOnDisconnect: cfg.CompleteOnDisconnect,
		Logger:               log,
	})
	if err != nil {
		return err
	}

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
	adminSrv := &http.Server{Handler: s.adminHandler(reg), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}

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
	defer stopExtProc()
	close(s.ready)
	log.Info("semcache serving", "api", "http://"+s.APIAddr, "admin", "http://"+s.AdminAddr,
		"upstream", cfg.upstreamURL.Redacted(), "data_dir", cfg.DataDir, "semantic", cfg.Semantic)
	fmt.Fprintf(stdout, "semcache listening on http://%s (admin http://%s)\n", s.APIAddr, s.AdminAddr)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = apiSrv.Shutdown(shutdownCtx)
	_ = adminSrv.Shutdown(shutdownCtx)
	wg.Wait()
	if err := c.Flush(shutdownCtx); err != nil {
		log.Warn("write-back queue not drained", "err", err)
	}
	log.Info("semcache stopped")
	return runErr
}

func (s *service) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			s.log.Warn("close failed", "err", err)
		}
	}
}

func (s *service) adminHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		select {
		case <-s.ready:
			_, _ = io.WriteString(w, "ready\n")
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "starting\n")
		}
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.registerAdmin(mux, reg)
	s.registerRAGAdmin(mux)
	return mux
}
