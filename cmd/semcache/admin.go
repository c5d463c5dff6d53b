package main

import (
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/proxy/admin"
)

// registerAdmin adds the admin API (/admin/api/...) and the dashboard
// (/dashboard/) to the admin listener, and makes the engine report its
// calls to the dashboard's tracker.
func (s *service) registerAdmin(mux *http.ServeMux, reg *prometheus.Registry) {
	tracker, err := admin.NewTracker(admin.TrackerOptions{})
	if err != nil {
		s.log.Error("admin API disabled", "err", err)
		return
	}
	a, err := admin.New(admin.Options{
		Cache:    s.cache,
		Gatherer: reg,
		Tracker:  tracker,
		Token:    s.cfg.AdminToken,
		Warmer:   s.engine,
		Budgets:  s.engine,
		Logger:   s.log,
	})
	if err != nil {
		s.log.Error("admin API disabled", "err", err)
		return
	}
	s.closers = append(s.closers, a.Close)
	s.engine.SetObserver(tracker)
	a.Register(mux)
	if s.cfg.AdminToken == "" && !loopback(s.cfg.AdminListen) {
		s.log.Warn("the admin API can delete and export cache entries and has no token; set --admin-token or bind --admin-listen to localhost",
			"admin_listen", s.cfg.AdminListen)
	}
}

// loopback reports whether a listen address only accepts local clients.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
