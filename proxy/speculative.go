package proxy

import (
	"context"
	"net/http"
	"time"

	"github.com/semcache/semcache/engine"
)

// speculation is an upstream call started while the lookup was still
// deciding (ServerOptions.SpeculativeUpstream). It carries the request
// as the client sent it; when the lookup ends in a miss that sends the
// same body, it becomes the miss's upstream call (its context is then the
// flight's), otherwise it is cancelled and counted.
type speculation struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when resp/err are set
	resp   *http.Response
	err    error
}

// plan runs the call's Plan. With speculation on, a Plan that has not
// decided within the delay gets company: the upstream call starts with
// the client's body and headers hdr (copied) while the lookup goes on.
func (s *Server) plan(r *http.Request, call *engine.Call, body []byte, hdr http.Header) (engine.Plan, *speculation) {
	if s.speculateAfter <= 0 {
		return call.Plan(r.Context(), body, true), nil
	}
	done := make(chan engine.Plan, 1)
	go func() { done <- call.Plan(r.Context(), body, true) }()
	t := time.NewTimer(s.speculateAfter)
	defer t.Stop()
	select {
	case p := <-done:
		return p, nil
	case <-t.C:
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.upTimeout)
	spec := &speculation{ctx: ctx, cancel: cancel, done: make(chan struct{})}
	h := hdr.Clone()
	go func() {
		defer close(spec.done)
		spec.resp, spec.err = s.roundTrip(ctx, r.URL.Path, body, h)
	}()
	return <-done, spec
}

// abandon cancels a speculative call that is not needed and counts it
// (with the prompt tokens it may be billed for); nil does nothing.
func (sp *speculation) abandon(call *engine.Call, body []byte) {
	if sp == nil {
		return
	}
	sp.cancel()
	call.Speculated(engine.SpeculationCancelled, body)
	go func() {
		<-sp.done
		if sp.resp != nil {
			sp.resp.Body.Close()
		}
	}()
}
