package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/semcache/semcache/cache"
)

// Tenant maps API keys to a named namespace.
type Tenant struct {
	Name string `yaml:"name"`
	// Keys are the tenant's API keys, raw or as "sha256:<hex>" so the
	// config file need not hold secrets.
	Keys []string `yaml:"keys"`
}

// Namespacer decides which namespace a request belongs to. By default the
// namespace is derived from the client's credential (a hash of the bearer
// token), so two API keys never share an entry. Tenants name groups of keys;
// Shared puts every request in one namespace (only for single-tenant
// deployments behind their own auth).
type Namespacer struct {
	byHash map[string]string
	shared string
}

// NewNamespacer validates the tenant table.
func NewNamespacer(tenants []Tenant, shared string) (*Namespacer, error) {
	n := &Namespacer{byHash: map[string]string{}, shared: shared}
	var errs []error
	if strings.Contains(shared, cache.SubNamespaceSep) {
		// The part after a slash is a sub-namespace (X-Semcache-Namespace).
		errs = append(errs, fmt.Errorf("shared namespace %q must not contain %q", shared, cache.SubNamespaceSep))
	}
	for i, t := range tenants {
		if t.Name == "" || strings.ContainsAny(t.Name, " \t\n/") {
			errs = append(errs, fmt.Errorf("tenants[%d]: name %q must be non-empty without spaces or slashes", i, t.Name))
		}
		if len(t.Keys) == 0 {
			errs = append(errs, fmt.Errorf("tenants[%d] (%s): needs at least one key", i, t.Name))
		}
		for _, k := range t.Keys {
			h := keyHash(k)
			if hex, ok := strings.CutPrefix(k, "sha256:"); ok {
				if len(hex) != 64 {
					errs = append(errs, fmt.Errorf("tenants[%d] (%s): sha256 key must be 64 hex digits", i, t.Name))
					continue
				}
				h = strings.ToLower(hex)
			}
			if prev, dup := n.byHash[h]; dup && prev != t.Name {
				errs = append(errs, fmt.Errorf("tenants[%d] (%s): a key is already mapped to tenant %s", i, t.Name, prev))
			}
			n.byHash[h] = t.Name
		}
	}
	return n, errors.Join(errs...)
}

func keyHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Resolve returns the namespace of a request from its headers.
func (n *Namespacer) Resolve(h http.Header) string {
	if n.shared != "" {
		return n.shared
	}
	token := bearer(h)
	if token == "" {
		return "anonymous"
	}
	hash := keyHash(token)
	if name, ok := n.byHash[hash]; ok {
		return "tenant:" + name
	}
	return "key:" + hash[:32]
}

// bearer extracts the client's credential: Authorization: Bearer, or the
// Azure-style api-key header.
func bearer(h http.Header) string {
	if v := h.Get("Authorization"); v != "" {
		if tok, ok := strings.CutPrefix(v, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
		if tok, ok := strings.CutPrefix(v, "bearer "); ok {
			return strings.TrimSpace(tok)
		}
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(h.Get("Api-Key"))
}
