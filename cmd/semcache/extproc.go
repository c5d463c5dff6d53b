package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"

	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/proxy/extproc"
)

// startExtProc serves the Envoy ext_proc / ext_authz hook on
// --extproc-listen (host:port, or unix:/path). It shares the engine with
// the HTTP front. It returns a function that stops it: gracefully, then
// forcibly after the given timeout (open Process streams live as long as
// their HTTP requests).
func (s *service) startExtProc(ctx context.Context, eng *engine.Engine) (func(time.Duration), error) {
	if s.cfg.ExtProc == "" {
		return func(time.Duration) {}, nil
	}
	srv, err := extproc.NewServer(extproc.Options{Engine: eng, MaxBodyBytes: int(s.cfg.maxBodyBytes), LookupTimeout: s.cfg.ExtProcBudget,
		TLS: s.cfg.extProcTLS, Token: s.cfg.ExtProcToken, Logger: s.log})
	if err != nil {
		return nil, err
	}
	ln, socket, err := listenExtProc(s.cfg.ExtProc)
	if err != nil {
		return nil, err
	}
	g := srv.NewGRPCServer()
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := g.Serve(ln); err != nil {
			s.log.Error("ext_proc server failed", "err", err)
		}
	}()
	addr := ln.Addr().String()
	if socket != "" {
		addr = "unix:" + socket
	}
	s.log.Info("semcache ext_proc listening", "addr", addr, "services", "ext_proc,ext_authz,health",
		"tls", s.cfg.extProcTLS != nil, "mtls", s.cfg.ExtProcClientCA != "", "token", s.cfg.ExtProcToken != "")
	return func(timeout time.Duration) {
		stopped := make(chan struct{})
		go func() { g.GracefulStop(); close(stopped) }()
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-stopped:
		case <-t.C:
			s.log.Warn("ext_proc streams still open, closing them", "after", timeout)
			g.Stop()
			<-stopped
		}
		<-served
		if socket != "" {
			_ = os.Remove(socket)
		}
	}, nil
}

// listenExtProc listens on host:port or unix:/path. A socket file left
// behind by an earlier run is removed first; any other file in the way is
// an error.
func listenExtProc(spec string) (ln net.Listener, socket string, err error) {
	path, ok := strings.CutPrefix(spec, "unix:")
	if !ok {
		ln, err := net.Listen("tcp", spec)
		if err != nil {
			return nil, "", fmt.Errorf("--extproc-listen %s: %w", spec, err)
		}
		return ln, "", nil
	}
	if p, ok := strings.CutPrefix(path, "//"); ok { // unix:///abs/path
		path = p
	}
	if path == "" {
		return nil, "", fmt.Errorf("--extproc-listen %s: empty socket path", spec)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, "", fmt.Errorf("--extproc-listen %s: %s exists and is not a socket", spec, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, "", fmt.Errorf("--extproc-listen %s: remove stale socket: %w", spec, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("--extproc-listen %s: %w", spec, err)
	}
	ln, err = net.Listen("unix", path)
	if err != nil {
		return nil, "", fmt.Errorf("--extproc-listen %s: %w", spec, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false) // removed by the stop func, after the server is done
	return ln, path, nil
}
