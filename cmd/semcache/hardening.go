package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/proxy"
	"github.com/semcache/semcache/proxy/extproc"
)

// hardening holds the settings that keep a production deployment safe:
// client authentication, connection and request limits, the bounds of
// the similarity tier's work, and the security of the ext_proc listener.
// Its list-valued sections (client_keys, key_headers, passthrough) are in
// the YAML file (fileConfig).
type hardening struct {
	ClientAuth       bool
	BodyTimeout      time.Duration
	MaxConnections   int
	MaxInFlight      int
	MaxBodyInFlight  string
	EmbedMaxBytes    string
	SemanticMaxBytes string
	ExtProcTLSCert   string
	ExtProcTLSKey    string
	ExtProcClientCA  string
	ExtProcToken     string

	// derived by validateHardening
	clientAuth       *engine.ClientAuth
	passthrough      *engine.Passthrough
	keyHeaders       []string
	extProcTLS       *tls.Config
	maxBodyInFlight  int64
	embedMaxBytes    int
	semanticMaxBytes int
}

func (h *hardening) flags(fs *flag.FlagSet) {
	fs.BoolVar(&h.ClientAuth, "client-auth", false, "admit only API clients whose key is in the config's client_keys (or a tenant's keys); others get 401 before any work")
	fs.DurationVar(&h.BodyTimeout, "body-timeout", proxy.DefaultBodyReadTimeout, "time limit for a request body to arrive (a passed-through upload: between two reads)")
	fs.IntVar(&h.MaxConnections, "max-connections", proxy.DefaultMaxConnections, "open connections of the API listener; more wait to be accepted")
	fs.IntVar(&h.MaxInFlight, "max-inflight", proxy.DefaultMaxInFlight, "requests worked on at once; more get 503 with Retry-After")
	fs.StringVar(&h.MaxBodyInFlight, "max-body-inflight", humanize.IBytes(proxy.DefaultMaxBodyBytesInFlight), "sum of the cached APIs' request bodies read and worked on at once (at least --max-body-bytes); more wait up to --body-timeout, then get 503")
	fs.StringVar(&h.EmbedMaxBytes, "embed-max-bytes", humanize.IBytes(cache.DefaultMaxEmbedBytes), "text embedded per prompt (a longer one: its head and tail)")
	fs.StringVar(&h.SemanticMaxBytes, "semantic-max-bytes", humanize.IBytes(cache.DefaultMaxSemanticBytes), "prompts (with their context) above this use the exact tier only")
	fs.StringVar(&h.ExtProcTLSCert, "extproc-tls-cert", "", "ext_proc listener: server certificate (PEM); TLS when set")
	fs.StringVar(&h.ExtProcTLSKey, "extproc-tls-key", "", "ext_proc listener: server key (PEM)")
	fs.StringVar(&h.ExtProcClientCA, "extproc-client-ca", "", "ext_proc listener: CA bundle (PEM) client certificates must chain to (mTLS)")
	fs.StringVar(&h.ExtProcToken, "extproc-token", "", "ext_proc listener: shared secret Envoy must send as gRPC metadata x-semcache-token (env SEMCACHE_EXTPROC_TOKEN)")
}

// validateHardening checks the hardening settings against the rest of the
// configuration and derives what serve needs.
func (c *config) validateHardening() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	h := &c.hardening
	if h.BodyTimeout <= 0 {
		bad("--body-timeout must be positive")
	}
	if h.MaxConnections < 1 || h.MaxInFlight < 1 {
		bad("--max-connections and --max-inflight must be at least 1")
	}
	if n, err := humanize.ParseBytes(h.MaxBodyInFlight); err != nil || int64(n) < c.maxBodyBytes {
		bad("--max-body-inflight %q: want a size of at least --max-body-bytes (%s)", h.MaxBodyInFlight, c.MaxBodyBytes)
	} else {
		h.maxBodyInFlight = int64(n)
	}
	if n, err := humanize.ParseBytes(h.EmbedMaxBytes); err != nil || n < 64 || n > 1<<30 {
		bad("--embed-max-bytes %q: want a size of at least 64 bytes, e.g. 8KiB", h.EmbedMaxBytes)
	} else {
		h.embedMaxBytes = int(n)
	}
	if n, err := humanize.ParseBytes(h.SemanticMaxBytes); err != nil || n < 64 || n > 1<<30 {
		bad("--semantic-max-bytes %q: want a size of at least 64 bytes, e.g. 32KiB", h.SemanticMaxBytes)
	} else {
		h.semanticMaxBytes = int(n)
	}

	// The admin listener reads and plants cached answers: never open to
	// the network.
	if !loopback(c.AdminListen) && c.AdminToken == "" {
		bad("--admin-listen %s is not a loopback address: set --admin-token (the admin API exports and plants cached answers)", c.AdminListen)
	}

	// Client authentication; --upstream-key must never make an open relay.
	keys := append([]string(nil), c.file.ClientKeys...)
	for _, t := range c.file.Tenants {
		keys = append(keys, t.Keys...)
	}
	switch {
	case h.ClientAuth && len(keys) == 0:
		bad("--client-auth needs keys: list them under client_keys (raw or sha256:<hex>) or tenants in the config file")
	case h.ClientAuth:
		a, err := engine.NewClientAuth(keys)
		if err != nil {
			bad("client_keys: %w", err)
		}
		h.clientAuth = a
	case len(c.file.ClientKeys) > 0:
		bad("client_keys are set but --client-auth is off")
	}
	if c.UpstreamKey != "" && !h.ClientAuth && !loopback(c.Listen) {
		bad("--upstream-key on a non-loopback --listen (%s) needs --client-auth: otherwise anyone who reaches it spends your key", c.Listen)
	}

	// Route identity and the passthrough allow-list.
	h.keyHeaders = engine.DefaultKeyHeaders
	if c.file.KeyHeaders != nil {
		h.keyHeaders = *c.file.KeyHeaders
		for _, k := range h.keyHeaders {
			if !validHeaderName(k) {
				bad("key_headers: %q is not a header name", k)
			}
		}
	}
	pass := engine.DefaultPassthrough
	if c.file.Passthrough != nil {
		pass = *c.file.Passthrough
	}
	p, err := engine.NewPassthrough(pass)
	if err != nil {
		bad("%w", err)
	}
	h.passthrough = p

	// ext_proc: only over a unix socket, on loopback, or with mTLS.
	if (h.ExtProcTLSCert == "") != (h.ExtProcTLSKey == "") {
		bad("--extproc-tls-cert and --extproc-tls-key go together")
	}
	if h.ExtProcClientCA != "" && h.ExtProcTLSCert == "" {
		bad("--extproc-client-ca needs --extproc-tls-cert and --extproc-tls-key")
	}
	if c.ExtProc != "" && !strings.HasPrefix(c.ExtProc, "unix:") && !loopback(c.ExtProc) && h.ExtProcClientCA == "" {
		bad("--extproc-listen %s is not a loopback address: it needs mutual TLS (--extproc-tls-cert, --extproc-tls-key, --extproc-client-ca), "+
			"or listen on a unix socket: any client that reaches it can plant answers", c.ExtProc)
	}
	if h.ExtProcTLSCert != "" && h.ExtProcTLSKey != "" {
		cfg, err := extproc.TLSConfig(h.ExtProcTLSCert, h.ExtProcTLSKey, h.ExtProcClientCA)
		if err != nil {
			bad("%w", err)
		}
		h.extProcTLS = cfg
	}
	return errs
}

// validHeaderName reports whether s is an HTTP header name (RFC 9110
// token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= 0x20 || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return http.CanonicalHeaderKey(s) != ""
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
