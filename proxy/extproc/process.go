package extproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"

	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/semcache/semcache/engine"
)

// errProtocol is wrapped by errors in the messages Envoy sent; the stream
// then ends with InvalidArgument.
var errProtocol = errors.New("extproc: protocol violation")

// ObserveMode is the mode_override sent with the response headers of a
// 200 chat answer that may be cached: the body is streamed to the
// processor chunk by chunk so it can be assembled. With
// allowed_override_modes configured, list it there.
func ObserveMode() *filterv3.ProcessingMode {
	return &filterv3.ProcessingMode{
		ResponseHeaderMode: filterv3.ProcessingMode_SEND,
		RequestBodyMode:    filterv3.ProcessingMode_BUFFERED,
		ResponseBodyMode:   filterv3.ProcessingMode_STREAMED,
	}
}

// PassMode is the mode_override sent with the request headers of any
// request semcache does not cache: Envoy neither buffers its body nor
// sends the response body, only the response headers, which get
// X-Semcache: bypass and count the call with its status, as on the HTTP
// front. With allowed_override_modes configured, list it there.
func PassMode() *filterv3.ProcessingMode {
	return &filterv3.ProcessingMode{
		ResponseHeaderMode: filterv3.ProcessingMode_SEND,
		RequestBodyMode:    filterv3.ProcessingMode_NONE,
		ResponseBodyMode:   filterv3.ProcessingMode_NONE,
	}
}

// Process serves one ext_proc stream: one HTTP request and its response.
// Except in observability mode, every message gets exactly one reply of
// the matching kind. A protocol violation ends the stream with
// InvalidArgument; a stream that ends early (client gone, Envoy reset)
// writes nothing back.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) (err error) {
	x := &exchange{s: s, ctx: stream.Context(), log: s.log}
	defer x.finish()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("ext_proc: panic", "panic", p, "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "semcache: internal error")
		}
	}()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err // already a gRPC status (cancelled, reset)
		}
		resp, err := x.handle(req)
		if err != nil {
			s.log.Warn("ext_proc: ending the stream", "err", err)
			return grpcError(err)
		}
		if req.GetObservabilityMode() {
			continue // replies would be ignored
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// grpcError maps an error to a gRPC status: the edge of this package.
func grpcError(err error) error {
	switch {
	case errors.Is(err, errProtocol):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	default:
		return status.Error(codes.Internal, err.Error())
	}
}

// exchange is the state of one Process stream: one engine call, moved
// along its phases as Envoy's messages arrive.
type exchange struct {
	s   *Server
	ctx context.Context
	log *slog.Logger

	// call starts with the request headers (nil before).
	call *engine.Call
	// wantBody is true while a cached API's body is expected.
	wantBody bool
	body     []byte
	chunks   int
	// served: answered with an immediate response.
	served bool
	// upstream: the response headers reached the engine; observe: it asked
	// for the body.
	upstream, observe bool
	finished          bool
}

func (x *exchange) handle(req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
	switch r := req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return x.requestHeaders(r.RequestHeaders)
	case *extprocv3.ProcessingRequest_RequestBody:
		return x.requestBody(r.RequestBody), nil
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{
			RequestTrailers: &extprocv3.TrailersResponse{}}}, nil
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return x.responseHeaders(r.ResponseHeaders), nil
	case *extprocv3.ProcessingRequest_ResponseBody:
		return x.responseBody(r.ResponseBody), nil
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		if x.observe { // trailers end the body
			x.finishBody(true)
		}
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{
			ResponseTrailers: &extprocv3.TrailersResponse{}}}, nil
	default:
		return nil, fmt.Errorf("%w: message of unknown kind %T", errProtocol, r)
	}
}

func (x *exchange) requestHeaders(m *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if x.call != nil {
		return nil, fmt.Errorf("%w: second request_headers message", errProtocol)
	}
	h, pseudo := requestHeaders(m.GetHeaders())
	x.call = x.s.engine.BeginRequest(engine.FrontExtProc,
		engine.Target{Method: pseudo[":method"], Authority: pseudo[":authority"], Path: pseudo[":path"]}, h)
	x.log = x.call.Logger()
	if reply := x.call.Refused(); reply != nil {
		x.served = true
		return immediate(reply), nil
	}
	common := &extprocv3.CommonResponse{}
	um := x.call.UpstreamHeader(h)
	if p := x.call.UpstreamPath(pseudo[":path"]); p != pseudo[":path"] {
		if um.Set == nil {
			um.Set = http.Header{}
		}
		um.Set[":path"] = []string{p}
	}
	if mut := mutation(um); mut != nil {
		common.HeaderMutation = mut
	}
	out := &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
		RequestHeaders: &extprocv3.HeadersResponse{Response: common}}}
	if !x.call.Cached() {
		out.ModeOverride = PassMode()
		return out, nil
	}
	x.wantBody = !m.GetEndOfStream()
	return out, nil
}

// mutation renders a header mutation for Envoy (nil when empty).
func mutation(m engine.HeaderMutation) *extprocv3.HeaderMutation {
	if len(m.Set) == 0 && len(m.Remove) == 0 {
		return nil
	}
	out := &extprocv3.HeaderMutation{SetHeaders: headerOptions(m.Set, true)}
	for _, k := range m.Remove {
		out.RemoveHeaders = append(out.RemoveHeaders, strings.ToLower(k))
	}
	return out
}

func bodyReply(request bool, common *extprocv3.CommonResponse) *extprocv3.ProcessingResponse {
	if common == nil {
		common = &extprocv3.CommonResponse{}
	}
	br := &extprocv3.BodyResponse{Response: common}
	if request {
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: br}}
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: br}}
}

func (x *exchange) requestBody(b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	if !x.wantBody {
		return bodyReply(true, nil)
	}
	x.chunks++
	if x.body == nil && b.GetEndOfStream() {
		x.body = b.GetBody() // the BUFFERED case: one message, no copy
	} else {
		x.body = append(x.body, b.GetBody()...)
	}
	if len(x.body) > x.s.maxBody {
		x.wantBody, x.body = false, nil
		x.call.Reject(&http.MaxBytesError{Limit: int64(x.s.maxBody)})
		return bodyReply(true, nil)
	}
	if !b.GetEndOfStream() {
		return bodyReply(true, nil)
	}
	x.wantBody = false
	body := x.body
	x.body = nil
	// Only a body that came whole (BUFFERED) can be replaced: in the
	// streamed modes earlier chunks are already upstream.
	return x.plan(body, x.chunks == 1)
}

// plan runs the engine on a complete body: an immediate response for a
// reply, or the request going on (with a body mutation when the engine
// replaced the body).
func (x *exchange) plan(body []byte, replaceable bool) *extprocv3.ProcessingResponse {
	ctx, cancel := context.WithTimeout(x.ctx, x.s.lookupTimeout)
	defer cancel()
	p := x.call.Plan(ctx, body, replaceable)
	if p.Reply != nil {
		x.served = true
		return immediate(p.Reply)
	}
	if p.Upstream.Body == nil || !replaceable {
		return bodyReply(true, nil)
	}
	// BUFFERED with request headers sent: Envoy keeps content-length and
	// rejects a body mutation that does not match it.
	up := p.Upstream.Body
	return bodyReply(true, &extprocv3.CommonResponse{
		HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: headerOptions(http.Header{
			"Content-Length": {strconv.Itoa(len(up))},
		}, true), RemoveHeaders: []string{"content-encoding"}}, // the engine's body is plain
		BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: up}},
	})
}

// immediate renders a reply as Envoy's local reply.
func immediate(r *engine.Reply) *extprocv3.ProcessingResponse {
	h := r.Header.Clone()
	h.Del("Content-Length") // Envoy sets it
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(r.Status)},
			Headers: &extprocv3.HeaderMutation{SetHeaders: headerOptions(h, true)},
			Body:    r.Body,
			Details: "semcache_" + strings.ReplaceAll(h.Get("X-Semcache"), "-", "_"),
		},
	}}
}

func (x *exchange) responseHeaders(m *extprocv3.HttpHeaders) *extprocv3.ProcessingResponse {
	common := &extprocv3.CommonResponse{}
	out := &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{
		ResponseHeaders: &extprocv3.HeadersResponse{Response: common}}}
	if x.call == nil || x.served || x.upstream {
		return out // a reply semcache served, or nothing to do
	}
	h, pseudo := requestHeaders(m.GetHeaders())
	code, _ := strconv.Atoi(pseudo[":status"])
	x.upstream = true
	r := x.call.Upstream(code, h)
	common.HeaderMutation = mutation(engine.HeaderMutation{Set: r.Header, Remove: r.Remove})
	switch {
	case !r.Observe:
		x.finishBody(true)
	case m.GetEndOfStream():
		x.finishBody(true) // an empty body: nothing to observe
	default:
		x.observe = true
		out.ModeOverride = ObserveMode()
	}
	return out
}

func (x *exchange) responseBody(b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	if !x.observe || x.finished {
		return bodyReply(false, nil) // pass the chunk through unchanged
	}
	out, replaced := x.call.Write(b.GetBody())
	if b.GetEndOfStream() {
		if tail := x.finishBody(true); len(tail) > 0 {
			out, replaced = append(append([]byte(nil), out...), tail...), true
		}
	}
	if !replaced {
		return bodyReply(false, nil)
	}
	return bodyReply(false, &extprocv3.CommonResponse{
		BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: out}},
	})
}

// finishBody ends the upstream body once.
func (x *exchange) finishBody(clean bool) []byte {
	if x.finished {
		return nil
	}
	x.finished = true
	return x.call.Finish(clean)
}

// finish runs when the stream ends, however it ends: a body still being
// observed was cut.
func (x *exchange) finish() {
	if x.call == nil {
		return
	}
	if x.upstream {
		x.finishBody(false)
	}
	x.call.End()
}
