//go:build pprof

package main

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

// With -tags pprof, a build of semcache serves net/http/pprof on
// $SEMCACHE_PPROF (default 127.0.0.1:6060), for profiling a real process
// under load (semcache-bench compare). Release builds have no such
// listener.
func init() {
	addr := os.Getenv("SEMCACHE_PPROF")
	if addr == "" {
		addr = "127.0.0.1:6060"
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			slog.Warn("pprof listener", "addr", addr, "err", err)
		}
	}()
}
