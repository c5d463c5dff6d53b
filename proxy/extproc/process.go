package extproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/proxy"
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
// request that is not a chat completion: Envoy then neither buffers its
// body nor sends its response. With allowed_override_modes configured,
// list it there.
func PassMode() *filterv3.ProcessingMode {
	return &filterv3.ProcessingMode{
		ResponseHeaderMode: filterv3.ProcessingMode_SKIP,
		RequestBodyMode:    filterv3.ProcessingMode_NONE,
		ResponseBodyMode:   filterv3.ProcessingMode_NONE,
	}
}

// controlHeaders are semcache's request headers, consumed here and never
// sent upstream; Accept-Encoding is dropped so the answer comes back in a
// form that can be assembled (as the HTTP front does).
var controlHeaders = []string{"accept-encoding", "x-semcache-cache-control", "x-semcache-ttl", "x-semcache-rag"}

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

// exchange is the state of one Process stream.
type exchange struct {
	s   *Server
	ctx context.Context
	log *slog.Logger

	// chat is true while a chat-completion body is expected.
	chat   bool
	header http.Header
	body   []byte
	chunks int

	// call is the prepared chat call (nil: nothing to cache).
	call *proxy.Call
	// served: answered from the cache with an immediate response; nothing
	// on this stream is ever stored after that.
	served bool
	// obs assembles the answer while it streams through.
	obs    *observer
	status int
	// completed: the write-back decision is made.
	completed bool
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
		if x.obs != nil { // trailers end the body
			x.observed(true)
		}
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{
			ResponseTrailers: &extprocv3.TrailersResponse{}}}, nil
	default:
		return nil, fmt.Errorf("%w: message of unknown kind %T", errProtocol, r)
	}
}

func (x *exchange) requestHeaders(m *extprocv3.HttpHeaders) (*extprocv3.ProcessingResponse, error) {
	if x.header != nil || x.call != nil || x.served {
		return nil, fmt.Errorf("%w: second request_headers message", errProtocol)
	}
	h, pseudo := requestHeaders(m.GetHeaders())
	x.header = h
	common := &extprocv3.CommonResponse{}
	out := &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
		RequestHeaders: &extprocv3.HeadersResponse{Response: common}}}
	if !x.s.isChat(pseudo[":method"], pseudo[":path"]) {
		out.ModeOverride = PassMode()
		return out, nil
	}
	x.chat = !m.GetEndOfStream()
	var remove []string
	for _, k := range controlHeaders {
		if _, ok := h[http.CanonicalHeaderKey(k)]; ok {
			remove = append(remove, k)
		}
	}
	if len(remove) > 0 {
		common.HeaderMutation = &extprocv3.HeaderMutation{RemoveHeaders: remove}
	}
	return out, nil
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
	if !x.chat {
		return bodyReply(true, nil)
	}
	x.chunks++
	if x.body == nil && b.GetEndOfStream() {
		x.body = b.GetBody() // the BUFFERED case: one message, no copy
	} else {
		x.body = append(x.body, b.GetBody()...)
	}
	if len(x.body) > x.s.maxBody {
		x.chat, x.body = false, nil
		x.log.Info("ext_proc: request body too large to look up, passing it through", "limit", x.s.maxBody)
		return bodyReply(true, nil)
	}
	if !b.GetEndOfStream() {
		return bodyReply(true, nil)
	}
	x.chat = false
	body := x.body
	x.body = nil
	// Only a body that came whole (BUFFERED) can be replaced: in the
	// streamed modes earlier chunks are already upstream.
	return x.lookup(body, x.chunks == 1)
}

// lookup runs the engine on a complete chat body, as the HTTP front does:
// prepare, look up, render a hit, or enrich a miss.
func (x *exchange) lookup(body []byte, replaceable bool) *extprocv3.ProcessingResponse {
	e := x.s.engine
	call, err := e.Prepare(body, x.header)
	if err != nil {
		// Not ours to reject: the upstream answers it as it would without
		// semcache.
		e.Finish(RouteExtProc, &proxy.Call{Start: time.Now(), Namespace: e.Namespace(x.header), Outcome: proxy.OutcomeError})
		x.log.Info("ext_proc: chat request not cacheable, passing it through", "err", err)
		return bodyReply(true, nil)
	}
	x.call = call
	ctx, cancel := context.WithTimeout(x.ctx, x.s.lookupTimeout)
	defer cancel()
	if entry := e.Lookup(ctx, call); entry != nil {
		x.served = true
		x.log.Debug("ext_proc: cache hit", "namespace", call.Namespace, "outcome", call.Outcome, "entry", entry.ID)
		return immediate(e.Render(call, entry), call.Outcome)
	}
	if !replaceable {
		return bodyReply(true, nil)
	}
	up := e.Enrich(ctx, call)
	if call.Enrichment.Body == nil {
		return bodyReply(true, nil)
	}
	// BUFFERED with request headers sent: Envoy keeps content-length and
	// rejects a body mutation that does not match it.
	return bodyReply(true, &extprocv3.CommonResponse{
		HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: headerOptions(http.Header{
			"Content-Length": {strconv.Itoa(len(up))},
		}, true)},
		BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: up}},
	})
}

// immediate renders a hit as Envoy's local reply.
func immediate(hit proxy.Hit, outcome string) *extprocv3.ProcessingResponse {
	h := hit.Headers.Clone()
	h.Set("Content-Type", hit.ContentType)
	if hit.ContentType == "text/event-stream" {
		h.Set("Cache-Control", "no-cache")
	}
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode_OK},
			Headers: &extprocv3.HeaderMutation{SetHeaders: headerOptions(h, true)},
			Body:    hit.Body,
			Details: "semcache_" + outcome,
		},
	}}
}

func (x *exchange) responseHeaders(m *extprocv3.HttpHeaders) *extprocv3.ProcessingResponse {
	common := &extprocv3.CommonResponse{}
	out := &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{
		ResponseHeaders: &extprocv3.HeadersResponse{Response: common}}}
	call := x.call
	if x.served || call == nil || x.completed {
		return out // a reply semcache served, or nothing to cache
	}
	h, pseudo := requestHeaders(m.GetHeaders())
	if strings.HasPrefix(strings.ToLower(h.Get("X-Semcache")), "hit") {
		// Our own local reply coming back through the response path (or a
		// semcache further upstream that served it): never store it again.
		x.completed = true
		return out
	}
	common.HeaderMutation = &extprocv3.HeaderMutation{SetHeaders: headerOptions(x.s.engine.MissHeaders(call), true)}
	code, _ := strconv.Atoi(pseudo[":status"])
	x.status = code
	switch {
	case call.Outcome == proxy.OutcomeBypass:
		x.completed = true
	case code != http.StatusOK || call.Controls.NoStore:
		x.complete(cache.Answer{}, nil) // recorded as error_status or no_store
	case m.GetEndOfStream():
		x.complete(cache.Answer{}, fmt.Errorf("%w: empty body", cache.ErrNotCacheable))
	default:
		mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
		obs, err := newObserver(mt == "text/event-stream", h.Get("Content-Encoding"))
		if err != nil {
			x.complete(cache.Answer{}, err)
			break
		}
		x.obs = obs
		out.ModeOverride = ObserveMode()
	}
	return out
}

func (x *exchange) responseBody(b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	if x.obs != nil {
		x.obs.write(b.GetBody())
		if b.GetEndOfStream() {
			x.observed(true)
		}
	}
	return bodyReply(false, nil) // pass the chunk through unchanged
}

// observed ends the observation and decides the write-back.
func (x *exchange) observed(clean bool) {
	ans, err := x.obs.result(clean)
	x.obs = nil
	x.complete(ans, err)
}

func (x *exchange) complete(ans cache.Answer, err error) {
	x.completed = true
	x.s.engine.Complete(x.call, x.status, ans, err)
}

// finish runs when the stream ends, however it ends.
func (x *exchange) finish() {
	if x.obs != nil && !x.completed {
		x.obs = nil
		x.complete(cache.Answer{}, fmt.Errorf("%w: stream ended before the answer did", cache.ErrNotCacheable))
	}
	if x.call != nil {
		x.s.engine.Finish(RouteExtProc, x.call)
	}
}
