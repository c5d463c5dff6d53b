package main

import (
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
		Cache:     s.cache,
		Gatherer:  reg,
		Tracker:   tracker,
		Token:     s.cfg.AdminToken,
		Warmer:    s.engine,
		Budgets:   s.engine,
		HasPrices: s.engine.HasPrices,
		Logger:    s.log,
	})
	if err != nil {
		s.log.Error("admin API disabled", "err", err)
		return
	}
	s.closers = append(s.closers, a.Close)
	s.engine.SetObserver(tracker)
	a.Register(mux)
}
