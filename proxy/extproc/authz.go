package extproc

import (
	"context"
	"errors"
	"net/http"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/semcache/semcache/engine"
)

// Check serves ext_authz, the narrow integration: with the filter's
// with_request_body, a hit is answered as a denied response carrying
// status 200, the content type and the cached body (Envoy counts it in
// ext_authz.denied); anything else is allowed, a miss with X-Semcache
// headers added. It never blocks traffic: errors are allowed through. It
// cannot write answers back or replace the body (no RAG, no partial
// batches) — use ext_proc for that.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	hr := req.GetAttributes().GetRequest().GetHttp()
	hdr := authzHeaders(hr)
	call := s.engine.BeginRequest(engine.FrontExtAuthz, engine.Target{Method: hr.GetMethod(), Authority: hr.GetHost(), Path: hr.GetPath()}, hdr)
	defer call.End()
	if reply := call.Refused(); reply != nil {
		return deny(reply), nil
	}
	if !call.Cached() {
		return allow(nil), nil
	}
	body := hr.GetRawBody()
	if len(body) == 0 {
		body = []byte(hr.GetBody())
	}
	if len(body) == 0 {
		call.Reject(errNoBody)
		s.log.Debug("ext_authz: request without a body (is with_request_body set?)")
		return allow(nil), nil
	}
	lctx, cancel := context.WithTimeout(ctx, s.lookupTimeout)
	defer cancel()
	p := call.Plan(lctx, body, false)
	if p.Reply == nil {
		return allow(p.Upstream.Header), nil
	}
	return deny(p.Reply), nil
}

// deny answers a check with a reply of semcache's own: a hit (status 200)
// or a refusal (401).
func deny(r *engine.Reply) *authv3.CheckResponse {
	h := r.Header.Clone()
	h.Del("Content-Length")
	msg := "semcache: answered from the cache"
	if r.Status != http.StatusOK {
		msg = "semcache: refused"
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied), Message: msg},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(r.Status)},
			Headers: headerOptions(h, false),
			Body:    string(r.Body),
		}},
	}
}

// errNoBody is a check without the request body.
var errNoBody = errors.New("extproc: no request body in the check (with_request_body unset?)")

// allow lets the request through; h (may be nil) is added to the request
// going upstream and to the response the client gets.
func allow(h http.Header) *authv3.CheckResponse {
	ok := &authv3.OkHttpResponse{}
	if len(h) > 0 {
		ok.Headers = headerOptions(h, false)
		ok.ResponseHeadersToAdd = headerOptions(h, false)
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}
}

// authzHeaders reads the request headers of a check: header_map (with
// encode_raw_headers) or the plain map.
func authzHeaders(hr *authv3.AttributeContext_HttpRequest) http.Header {
	h := http.Header{}
	if hm := hr.GetHeaderMap(); hm != nil {
		for _, hv := range hm.GetHeaders() {
			if !strings.HasPrefix(hv.GetKey(), ":") {
				h.Add(hv.GetKey(), headerText(hv))
			}
		}
		return h
	}
	for k, v := range hr.GetHeaders() {
		if !strings.HasPrefix(k, ":") {
			h.Add(k, v)
		}
	}
	return h
}
