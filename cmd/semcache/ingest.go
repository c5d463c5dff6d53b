package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v4"
	"github.com/peterbourgon/ff/v4/ffyaml"
	"github.com/schollz/progressbar/v3"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/term"
	"gopkg.in/yaml.v3"

	"github.com/semcache/semcache/rag"
)

// ingestFlags are `semcache ingest`'s own flags; the rest are serve's, so
// the same config file (store, embedder, data dir, rag section) applies.
type ingestFlags struct {
	collection string
	adminURL   string
	offline    bool
	base       string
	delete     bool
}

// ingestSink is where documents go: a running server or the store itself.
type ingestSink interface {
	ingest(ctx context.Context, docs []rag.Document) ([]rag.Result, error)
	remove(ctx context.Context, id string) (rag.Result, error)
}

// runIngest implements `semcache ingest --collection NAME PATH...`.
func runIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, fl, paths, err := parseIngest(args, stderr)
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, ff.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.LogLevel == "info" { // keep per-document logs out of the progress output
		cfg.LogLevel = "warn"
	}
	s := &service{cfg: cfg, log: newLogger(cfg, stderr), ready: make(chan struct{})}
	defer s.close()

	sink, err := s.ingestSink(ctx, fl, stdout)
	if err != nil {
		return err
	}
	if fl.delete {
		return deleteDocs(ctx, sink, paths, stdout, stderr)
	}
	maxDoc := cfg.file.RAG.maxDocBytes
	targets := expand(paths, fl.base)
	p := newProgress(stderr, stdout, len(targets))
	var sum summary
	start := time.Now()
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			p.done()
			return err
		}
		ingestTarget(ctx, sink, t, maxDoc, p, &sum)
		p.step()
	}
	p.done()
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "ingested %d, skipped unchanged %d, failed %d (%d chunks in %s, %.0f chunks/s)\n",
		sum.ingested, sum.unchanged, sum.failed, sum.chunks, elapsed.Round(time.Millisecond),
		float64(sum.chunks)/max(elapsed.Seconds(), 1e-9))
	if sum.failed > 0 {
		return fmt.Errorf("ingest: %d of %d documents failed", sum.failed, sum.ingested+sum.unchanged+sum.failed)
	}
	return nil
}

// ingestTarget loads one file and sends its documents to sink.
func ingestTarget(ctx context.Context, sink ingestSink, t target, maxDoc int64, p *progress, sum *summary) {
	if t.err != nil {
		sum.failed++
		p.fail(t.path, t.err)
		return
	}
	docs, err := rag.LoadFile(t.path, t.id, maxDoc)
	if err != nil {
		sum.failed++
		p.fail(t.path, err)
		return
	}
	results, err := sink.ingest(ctx, docs)
	if err != nil {
		sum.failed += len(docs)
		p.fail(t.path, err)
		return
	}
	for _, r := range results {
		sum.add(r)
		name := t.path
		if len(docs) > 1 {
			name += " [" + r.ID + "]"
		}
		if r.Status == rag.StatusFailed {
			p.fail(name, errors.New(r.Error))
		} else {
			p.ok(name, r)
		}
	}
}

// parseIngest parses the flags, environment and config file.
func parseIngest(args []string, stderr io.Writer) (*config, *ingestFlags, []string, error) {
	cfg := &config{}
	fl := &ingestFlags{}
	std := flag.NewFlagSet("ingest", flag.ContinueOnError)
	std.SetOutput(stderr)
	cfg.flags(std)
	std.StringVar(&fl.collection, "collection", "", "collection to load the documents into (required)")
	std.StringVar(&fl.adminURL, "admin-url", "", "send documents to a running server's admin API at this URL (default: the --admin-listen address, when a server answers there)")
	std.BoolVar(&fl.offline, "offline", false, "never contact a running server: open the store directly (the server must be stopped for the embedded store)")
	std.StringVar(&fl.base, "base", ".", "document ids are file paths relative to this directory")
	std.BoolVar(&fl.delete, "delete", false, "delete the documents whose ids are given instead of ingesting paths")
	fs := ff.NewFlagSetFrom("ingest", std)
	err := ff.Parse(fs, args,
		ff.WithEnvVarPrefix("SEMCACHE"),
		ff.WithConfigFileFlag("config"),
		ff.WithConfigFileParser(ffyaml.Parse),
		ff.WithConfigIgnoreUndefinedFlags(),
	)
	if errors.Is(err, ff.ErrHelp) {
		fmt.Fprintln(stderr, "usage: semcache ingest --collection NAME [flags] PATH...   (files: "+
			strings.Join(rag.SupportedExtensions(), " ")+"; directories recursively)")
		fmt.Fprintln(stderr, "       semcache ingest --collection NAME --delete ID...")
		std.PrintDefaults()
		return nil, nil, nil, err
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if cfg.ConfigFile != "" {
		b, err := os.ReadFile(cfg.ConfigFile)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("config: %w", err)
		}
		if err := yaml.Unmarshal(b, &cfg.file); err != nil {
			return nil, nil, nil, fmt.Errorf("config: %s: %w", cfg.ConfigFile, err)
		}
	}
	var errs []error
	if err := cfg.validate(); err != nil {
		errs = append(errs, err)
	}
	if !rag.ValidCollectionName(fl.collection) {
		errs = append(errs, fmt.Errorf("--collection %q: want a name of lower-case letters, digits, '-' and '_'", fl.collection))
	}
	paths := fs.GetArgs()
	if len(paths) == 0 {
		errs = append(errs, errors.New("ingest: name at least one file or directory (or document id with --delete)"))
	}
	return cfg, fl, paths, errors.Join(errs...)
}

// ingestSink picks a running server (--admin-url, or the configured admin
// address when something answers there) or the store itself.
func (s *service) ingestSink(ctx context.Context, fl *ingestFlags, stdout io.Writer) (ingestSink, error) {
	url := fl.adminURL
	if url == "" && !fl.offline {
		if probe := localAdminURL(s.cfg.AdminListen); probe != "" && healthy(ctx, probe) {
			url = probe
		}
	}
	if url != "" {
		c := &rag.Client{BaseURL: url, Token: s.cfg.AdminToken}
		if _, err := c.Stats(ctx, fl.collection); err != nil {
			return nil, fmt.Errorf("ingest: server at %s: %w", url, err)
		}
		fmt.Fprintf(stdout, "sending documents to the running server at %s\n", url)
		return remoteSink{c: c, collection: fl.collection}, nil
	}
	svc, err := s.openRAGService(ctx, nil, nil)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("ingest: the store under %s is locked by a running server; pass --admin-url http://ADMIN-ADDRESS: %w", s.cfg.DataDir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if !svc.Configured(fl.collection) {
		s.log.Warn("collection is not in the config file's rag.collections: nothing retrieves from it until it is", "collection", fl.collection)
	}
	return localSink{svc: svc, collection: fl.collection}, nil
}

// localAdminURL turns an admin listen address into a URL to probe.
func localAdminURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func healthy(ctx context.Context, base string) bool {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

type remoteSink struct {
	c          *rag.Client
	collection string
}

func (r remoteSink) ingest(ctx context.Context, docs []rag.Document) ([]rag.Result, error) {
	resp, err := r.c.Ingest(ctx, r.collection, docs)
	return resp.Results, err
}

func (r remoteSink) remove(ctx context.Context, id string) (rag.Result, error) {
	return r.c.Delete(ctx, r.collection, id)
}

type localSink struct {
	svc        *rag.Service
	collection string
}

func (l localSink) ingest(ctx context.Context, docs []rag.Document) ([]rag.Result, error) {
	return l.svc.IngestAll(ctx, l.collection, docs).Results, nil
}

func (l localSink) remove(ctx context.Context, id string) (rag.Result, error) {
	return l.svc.Delete(ctx, l.collection, id)
}

func deleteDocs(ctx context.Context, sink ingestSink, ids []string, stdout, stderr io.Writer) error {
	failed := 0
	for _, id := range ids {
		res, err := sink.remove(ctx, id)
		if err != nil {
			failed++
			fmt.Fprintf(stderr, "semcache ingest: %s: %v\n", id, err)
			continue
		}
		fmt.Fprintf(stdout, "deleted %s (%d chunks, %d cached answers purged)\n", id, res.Chunks, res.Purged)
	}
	fmt.Fprintf(stdout, "deleted %d, failed %d\n", len(ids)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("ingest: %d of %d deletions failed", failed, len(ids))
	}
	return nil
}

// target is one file to ingest (or the error finding it).
type target struct {
	path, id string
	err      error
}

// expand lists the files under paths (directories recursively, hidden
// entries skipped); document ids are slash paths relative to base.
func expand(paths []string, base string) []target {
	absBase, _ := filepath.Abs(base)
	idOf := func(p string) string {
		abs, err := filepath.Abs(p)
		if err != nil {
			return filepath.ToSlash(p)
		}
		if rel, err := filepath.Rel(absBase, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(rel)
		}
		return filepath.ToSlash(abs)
	}
	var out []target
	for _, root := range paths {
		st, err := os.Stat(root)
		if err != nil {
			out = append(out, target{path: root, err: err})
			continue
		}
		if !st.IsDir() {
			out = append(out, target{path: root, id: idOf(root)})
			continue
		}
		walkErr := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				out = append(out, target{path: p, err: err})
				return nil
			}
			if p != root && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() {
				out = append(out, target{path: p, id: idOf(p)})
			}
			return nil
		})
		if walkErr != nil {
			out = append(out, target{path: root, err: walkErr})
		}
	}
	return out
}

// summary counts documents by outcome.
type summary struct {
	ingested, unchanged, failed, chunks int
}

func (s *summary) add(r rag.Result) {
	switch r.Status {
	case rag.StatusIngested:
		s.ingested++
		s.chunks += r.Chunks
	case rag.StatusUnchanged:
		s.unchanged++
	default:
		s.failed++
	}
}

// progress reports per-file outcomes: a progress bar on a terminal, plain
// lines otherwise.
type progress struct {
	bar            *progressbar.ProgressBar
	stderr, stdout io.Writer
}

func newProgress(stderr, stdout io.Writer, total int) *progress {
	p := &progress{stderr: stderr, stdout: stdout}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("ingesting"),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) fail(name string, err error) {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	fmt.Fprintf(p.stderr, "semcache ingest: %s: %v\n", name, err)
	if p.bar != nil {
		_ = p.bar.RenderBlank()
	}
}

func (p *progress) ok(name string, r rag.Result) {
	if p.bar == nil {
		fmt.Fprintf(p.stdout, "%-9s %s (%d chunks)\n", r.Status, name, r.Chunks)
	}
}

func (p *progress) step() {
	if p.bar != nil {
		_ = p.bar.Add(1)
	}
}

func (p *progress) done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
