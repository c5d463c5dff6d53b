package main

import (
	"context"
	"errors"

	"github.com/semcache/semcache/proxy"
)

// startExtProc serves the Envoy ext_proc / ext_authz hook on
// --extproc-listen. It returns a function that stops it.
func (s *service) startExtProc(ctx context.Context, engine *proxy.Engine) (func(), error) {
	if s.cfg.ExtProc == "" {
		return func() {}, nil
	}
	return nil, errors.New("--extproc-listen: the ext_proc front is not built yet")
}
