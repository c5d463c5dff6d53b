package extproc

import (
	"context"
	"net/http"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/semcache/semcache/proxy"
)

// Check serves ext_authz, the narrow integration: with the filter's
// with_request_body, a chat-completion hit is answered as a denied
// response carrying status 200, the content type and the cached body
// (Envoy counts it in ext_authz.denied); anything else is allowed, a chat
// miss with X-Semcache headers added. It never blocks traffic: errors are
// allowed through. It cannot write answers back or inject RAG context —
// use ext_proc for that.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	hr := req.GetAttributes().GetRequest().GetHttp()
	if !s.isChat(hr.GetMethod(), hr.GetPath()) {
		return allow(nil), nil
	}
	body := hr.GetRawBody()
	if len(body) == 0 {
		body = []byte(hr.GetBody())
	}
	if len(body) == 0 {
		s.log.Debug("ext_authz: chat request without a body (is with_request_body set?)")
		return allow(nil), nil
	}
	e := s.engine
	hdr := authzHeaders(hr)
	call, err := e.Prepare(body, hdr)
	if err != nil {
		e.Finish(RouteExtAuthz, &proxy.Call{Start: time.Now(), Namespace: e.Namespace(hdr), Outcome: proxy.OutcomeError})
		s.log.Info("ext_authz: chat request not cacheable, allowing it", "err", err)
		return allow(nil), nil
	}
	defer e.Finish(RouteExtAuthz, call)
	lctx, cancel := context.WithTimeout(ctx, s.lookupTimeout)
	defer cancel()
	entry := e.Lookup(lctx, call)
	if entry == nil {
		return allow(e.MissHeaders(call)), nil
	}
	hit := e.Render(call, entry)
	h := hit.Headers.Clone()
	h.Set("Content-Type", hit.ContentType)
	if hit.ContentType == "text/event-stream" {
		h.Set("Cache-Control", "no-cache")
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(codes.PermissionDenied), Message: "semcache: answered from the cache"},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode_OK},
			Headers: headerOptions(h, false),
			Body:    string(hit.Body),
		}},
	}, nil
}

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
