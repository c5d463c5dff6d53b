package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// registerAdmin adds the admin API and the dashboard to the admin listener.
func (s *service) registerAdmin(mux *http.ServeMux, reg *prometheus.Registry) {}
