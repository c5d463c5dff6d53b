// Package envoydriver is a protocol driver for Envoy's external processing
// (ext_proc) and external authorization (ext_authz) gRPC APIs: it plays
// Envoy's side of the protocol against a processor, so the processor can be
// tested and benchmarked where no Envoy binary can run.
//
// The ext_proc Driver takes one HTTP request the way Envoy's ext_proc
// filter would: it opens a Process stream, sends request_headers and
// request_body, applies the processor's header and body mutations to its
// own copy of the request, stops at an ImmediateResponse, or else performs
// the upstream call itself, sends response_headers, and streams the
// response body in chunks. It enforces the rules Envoy enforces and fails
// loudly where Envoy would fail or misbehave:
//
//   - every message gets exactly one reply of the matching kind (an
//     ImmediateResponse only on the request path), within MessageTimeout;
//   - an ImmediateResponse ends the exchange and needs a status;
//   - mode_override is honoured only on a header reply, and only when the
//     filter allows overrides (and lists the mode, if a list is set);
//   - header mutations are read from raw_value (setting value alone would
//     make Envoy set an empty header; setting both is rejected); Envoy's
//     default mutation rules ignore changes to host, :authority, :scheme,
//     :method and x-envoy-* headers;
//   - in BUFFERED mode with request headers sent, a body mutation must
//     come with a content-length equal to the new body's length, or Envoy
//     rejects it (the client would get a 500).
//
// Trailers, FULL_DUPLEX_STREAMED and failure_mode_allow are not
// simulated: every processor failure is an error, which is what a test
// wants to see. The AuthzDriver plays the ext_authz filter with
// with_request_body.
package envoydriver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
)

// Errors the drivers wrap.
var (
	// ErrProtocol: the processor broke the protocol (wrong reply kind,
	// missing status, an unsolicited message). Envoy would drop the stream
	// and answer the client with an error.
	ErrProtocol = errors.New("envoydriver: protocol violation")
	// ErrRejected: Envoy would reject the processor's mutation and send
	// the client a local reply (500).
	ErrRejected = errors.New("envoydriver: mutation rejected")
	// ErrMessageTimeout: no reply within the filter's message_timeout.
	ErrMessageTimeout = errors.New("envoydriver: message timeout")
	// ErrAborted: the exchange was reset on purpose (Request.AbortAfterChunks),
	// as Envoy does when the client goes away.
	ErrAborted = errors.New("envoydriver: exchange aborted by the client")
	// ErrUpstreamBroken: the upstream's response body broke off; Envoy
	// resets the stream (the processor sees it end) and the client gets a
	// broken response.
	ErrUpstreamBroken = errors.New("envoydriver: upstream body broke off")
)

// RecommendedMode is the filter's processing_mode semcache expects:
// request headers and the buffered request body are sent, response headers
// too; the response body only when the processor asks for it with a mode
// override.
func RecommendedMode() *filterv3.ProcessingMode {
	return &filterv3.ProcessingMode{
		RequestHeaderMode:   filterv3.ProcessingMode_SEND,
		ResponseHeaderMode:  filterv3.ProcessingMode_SEND,
		RequestBodyMode:     filterv3.ProcessingMode_BUFFERED,
		ResponseBodyMode:    filterv3.ProcessingMode_NONE,
		RequestTrailerMode:  filterv3.ProcessingMode_SKIP,
		ResponseTrailerMode: filterv3.ProcessingMode_SKIP,
	}
}

// FilterConfig is the part of the ext_proc filter configuration the
// driver honours.
type FilterConfig struct {
	// Mode is processing_mode (nil: RecommendedMode).
	Mode *filterv3.ProcessingMode
	// AllowModeOverride is allow_mode_override.
	AllowModeOverride bool
	// AllowedOverrideModes is allowed_override_modes: when set, only these
	// overrides are honoured (request_header_mode is not compared, as in
	// Envoy).
	AllowedOverrideModes []*filterv3.ProcessingMode
	// MessageTimeout is message_timeout (default 200 ms, Envoy's).
	MessageTimeout time.Duration
}

// Driver plays Envoy's ext_proc filter for one request at a time; it is
// safe for concurrent use.
type Driver struct {
	Client extprocv3.ExternalProcessorClient
	Config FilterConfig
	// Upstream is where requests go when the processor lets them through:
	// scheme and host; the request path is appended to its path.
	Upstream *url.URL
	// HTTPClient calls the upstream (default: a client that, like Envoy,
	// never decompresses bodies on its own).
	HTTPClient *http.Client
	// ChunkSize is the size of the response body chunks sent in STREAMED
	// mode (default 64 bytes, so a short answer still comes in many).
	ChunkSize int
	// EndTimeout bounds the wait for the processor to end the stream after
	// the exchange (default 10 s).
	EndTimeout time.Duration
}

// Request is what the client sends through Envoy.
type Request struct {
	Method string
	// Path is the request target, query included.
	Path string
	// Authority is the request's :authority (default: the upstream's
	// host).
	Authority string
	Header    http.Header
	Body      []byte
	// AbortAfterChunks > 0 resets the exchange once the processor has
	// answered that many response body messages, as Envoy does when the
	// client goes away mid-answer; Do then returns ErrAborted. A body with
	// fewer chunks is sent whole but without end_of_stream before the
	// reset: every byte arrived, yet the stream never ended.
	AbortAfterChunks int
	// ReplayLocalReply sends an immediate response back through the
	// response path of the same stream (response_headers, then the body if
	// the processor asks for it). Current Envoy does not do that; a cache
	// must still never store its own reply if one does.
	ReplayLocalReply bool
}

// Forwarded is a request as it reached the upstream.
type Forwarded struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Response is what the client gets, and what happened on the way.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Immediate: the processor answered with an ImmediateResponse (ext_proc);
	// Denied: ext_authz denied the request with this response.
	Immediate, Denied bool
	// Details is the ImmediateResponse's details.
	Details string
	// Upstream is the request as forwarded upstream; nil when it was not.
	Upstream *Forwarded
	// Mode is the processing mode in force at the end (after overrides).
	Mode *filterv3.ProcessingMode
	// BodyMessages counts the response_body messages sent.
	BodyMessages int
	// IgnoredOverrides counts mode overrides Envoy would ignore (sent on a
	// body reply, or not allowed).
	IgnoredOverrides int
	// RoundTrips are the processor's reply times, one per message, in order.
	RoundTrips []RoundTrip
}

// RoundTrip is the time from sending one message to its reply: the delay
// the processor adds to that phase of the request.
type RoundTrip struct {
	// Kind is the message: request_headers, request_body,
	// response_headers, response_body.
	Kind string
	Time time.Duration
}

func (d *Driver) messageTimeout() time.Duration {
	if d.Config.MessageTimeout > 0 {
		return d.Config.MessageTimeout
	}
	return 200 * time.Millisecond
}

func (d *Driver) httpClient() *http.Client {
	if d.HTTPClient != nil {
		return d.HTTPClient
	}
	return defaultHTTPClient
}

var defaultHTTPClient = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}}

type received struct {
	msg *extprocv3.ProcessingResponse
	err error
}

// exchange is one HTTP request on one Process stream.
type exchange struct {
	d      *Driver
	stream extprocv3.ExternalProcessor_ProcessClient
	recv   chan received
	mode   *filterv3.ProcessingMode
	resp   *Response
	first  bool
}

// Do sends one request through the processor (and the upstream) and
// returns what the client would get. After the exchange it half-closes the
// stream, as Envoy does, and waits for the processor to end it, so the
// processor's side effects (write-back) are done when Do returns.
func (d *Driver) Do(ctx context.Context, r *Request) (*Response, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // resets the stream on every early return
	stream, err := d.Client.Process(ctx)
	if err != nil {
		return nil, fmt.Errorf("envoydriver: open stream: %w", err)
	}
	mode := d.Config.Mode
	if mode == nil {
		mode = RecommendedMode()
	}
	x := &exchange{d: d, stream: stream, recv: make(chan received), mode: proto.Clone(mode).(*filterv3.ProcessingMode),
		resp: &Response{}, first: true}
	go x.receive(ctx)
	if err := x.run(ctx, r); err != nil {
		return nil, err
	}
	x.resp.Mode = x.mode
	if err := stream.CloseSend(); err != nil {
		return nil, fmt.Errorf("envoydriver: close stream: %w", err)
	}
	if err := x.awaitEnd(ctx); err != nil {
		return nil, err
	}
	return x.resp, nil
}

func (x *exchange) receive(ctx context.Context) {
	for {
		m, err := x.stream.Recv()
		select {
		case x.recv <- received{m, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

func (x *exchange) awaitEnd(ctx context.Context) error {
	timeout := x.d.EndTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-x.recv:
		switch {
		case errors.Is(r.err, io.EOF):
			return nil
		case r.err != nil:
			return fmt.Errorf("envoydriver: processor ended the stream with an error: %w", r.err)
		default:
			return fmt.Errorf("%w: unsolicited %T after the exchange", ErrProtocol, r.msg.GetResponse())
		}
	case <-t.C:
		return fmt.Errorf("envoydriver: processor did not end the stream within %v", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// roundTrip sends one message and waits for its reply.
func (x *exchange) roundTrip(ctx context.Context, req *extprocv3.ProcessingRequest) (*extprocv3.ProcessingResponse, error) {
	if x.first {
		x.first = false
		req.ProtocolConfig = &extprocv3.ProtocolConfiguration{
			RequestBodyMode: x.mode.GetRequestBodyMode(), ResponseBodyMode: x.mode.GetResponseBodyMode()}
	}
	start := time.Now()
	if err := x.stream.Send(req); err != nil {
		if errors.Is(err, io.EOF) {
			// gRPC: Send reports io.EOF when the server ended the stream;
			// the status it ended it with comes from Recv.
			select {
			case r := <-x.recv:
				if r.err != nil && !errors.Is(r.err, io.EOF) {
					err = r.err
				}
			case <-time.After(x.d.messageTimeout()):
			}
		}
		return nil, fmt.Errorf("envoydriver: send %s: %w", kindOf(req), err)
	}
	t := time.NewTimer(x.d.messageTimeout())
	defer t.Stop()
	extended := false
	for {
		select {
		case r := <-x.recv:
			if r.err != nil {
				if errors.Is(r.err, io.EOF) {
					return nil, fmt.Errorf("%w: stream closed before the %s reply", ErrProtocol, kindOf(req))
				}
				return nil, fmt.Errorf("envoydriver: %s: %w", kindOf(req), r.err)
			}
			if ot := r.msg.GetOverrideMessageTimeout(); ot != nil && r.msg.GetResponse() == nil && !extended {
				extended = true // Envoy honours one extension per message
				t.Reset(ot.AsDuration())
				continue
			}
			if err := checkKind(req, r.msg); err != nil {
				return nil, err
			}
			x.resp.RoundTrips = append(x.resp.RoundTrips, RoundTrip{Kind: kindOf(req), Time: time.Since(start)})
			return r.msg, nil
		case <-t.C:
			return nil, fmt.Errorf("%w: no reply to %s within %v", ErrMessageTimeout, kindOf(req), x.d.messageTimeout())
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func kindOf(req *extprocv3.ProcessingRequest) string {
	switch req.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return "request_headers"
	case *extprocv3.ProcessingRequest_RequestBody:
		return "request_body"
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return "response_headers"
	case *extprocv3.ProcessingRequest_ResponseBody:
		return "response_body"
	}
	return "unknown"
}

// checkKind enforces one reply of the matching kind; an immediate response
// only on the request path.
func checkKind(req *extprocv3.ProcessingRequest, resp *extprocv3.ProcessingResponse) error {
	ok := false
	switch resp.GetResponse().(type) {
	case *extprocv3.ProcessingResponse_RequestHeaders:
		_, ok = req.GetRequest().(*extprocv3.ProcessingRequest_RequestHeaders)
	case *extprocv3.ProcessingResponse_RequestBody:
		_, ok = req.GetRequest().(*extprocv3.ProcessingRequest_RequestBody)
	case *extprocv3.ProcessingResponse_ResponseHeaders:
		_, ok = req.GetRequest().(*extprocv3.ProcessingRequest_ResponseHeaders)
	case *extprocv3.ProcessingResponse_ResponseBody:
		_, ok = req.GetRequest().(*extprocv3.ProcessingRequest_ResponseBody)
	case *extprocv3.ProcessingResponse_ImmediateResponse:
		switch req.GetRequest().(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders, *extprocv3.ProcessingRequest_RequestBody:
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: %T in reply to %s", ErrProtocol, resp.GetResponse(), kindOf(req))
	}
	return nil
}

// headerReply reports whether resp answers headers (where mode_override
// is honoured).
func headerReply(resp *extprocv3.ProcessingResponse) bool {
	switch resp.GetResponse().(type) {
	case *extprocv3.ProcessingResponse_RequestHeaders, *extprocv3.ProcessingResponse_ResponseHeaders:
		return true
	}
	return false
}

// override applies a mode_override the way Envoy does.
func (x *exchange) override(resp *extprocv3.ProcessingResponse) {
	m := resp.GetModeOverride()
	if m == nil {
		return
	}
	if !headerReply(resp) || !x.d.Config.AllowModeOverride {
		x.resp.IgnoredOverrides++
		return
	}
	if list := x.d.Config.AllowedOverrideModes; len(list) > 0 && !slices.ContainsFunc(list, func(a *filterv3.ProcessingMode) bool {
		return a.GetRequestBodyMode() == m.GetRequestBodyMode() && a.GetRequestTrailerMode() == m.GetRequestTrailerMode() &&
			a.GetResponseHeaderMode() == m.GetResponseHeaderMode() && a.GetResponseBodyMode() == m.GetResponseBodyMode() &&
			a.GetResponseTrailerMode() == m.GetResponseTrailerMode()
	}) {
		x.resp.IgnoredOverrides++
		return
	}
	reqHeaders := x.mode.GetRequestHeaderMode()
	x.mode = proto.Clone(m).(*filterv3.ProcessingMode)
	x.mode.RequestHeaderMode = reqHeaders
}

func (x *exchange) run(ctx context.Context, r *Request) error {
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	reqHdr := r.Header.Clone()
	if reqHdr == nil {
		reqHdr = http.Header{}
	}
	body := bytes.Clone(r.Body)
	if len(body) > 0 {
		reqHdr.Set("Content-Length", strconv.Itoa(len(body)))
	}
	authority := r.Authority
	if authority == "" {
		authority = x.d.Upstream.Host
	}
	pseudo := []string{":method", method, ":path", r.Path, ":authority", authority, ":scheme", "http"}
	path := r.Path

	// Request headers.
	if x.mode.GetRequestHeaderMode() != filterv3.ProcessingMode_SKIP {
		resp, err := x.roundTrip(ctx, &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
			RequestHeaders: &extprocv3.HttpHeaders{Headers: headerMap(pseudo, reqHdr), EndOfStream: len(body) == 0}}})
		if err != nil {
			return err
		}
		if done, err := x.immediate(ctx, r, resp); done || err != nil {
			return err
		}
		x.override(resp)
		m := resp.GetRequestHeaders().GetResponse().GetHeaderMutation()
		if err := applyHeaders(reqHdr, m); err != nil {
			return err
		}
		if p, ok := pathMutation(m); ok {
			path = p
		}
	}

	// Request body.
	if len(body) > 0 {
		var err error
		var done bool
		switch bm := x.mode.GetRequestBodyMode(); bm {
		case filterv3.ProcessingMode_NONE:
		case filterv3.ProcessingMode_BUFFERED:
			body, done, err = x.bufferedRequestBody(ctx, r, reqHdr, body)
		case filterv3.ProcessingMode_STREAMED:
			body, done, err = x.streamedRequestBody(ctx, r, reqHdr, body)
		default:
			return fmt.Errorf("envoydriver: request_body_mode %v is not simulated", bm)
		}
		if done || err != nil {
			return err
		}
	}

	// Upstream.
	x.resp.Upstream = &Forwarded{Method: method, Path: path, Header: reqHdr.Clone(), Body: body}
	u := *x.d.Upstream
	target, err := url.Parse(strings.TrimSuffix(u.String(), "/") + path)
	if err != nil {
		return fmt.Errorf("envoydriver: upstream URL: %w", err)
	}
	up, err := http.NewRequestWithContext(ctx, method, target.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("envoydriver: upstream request: %w", err)
	}
	up.Header = reqHdr.Clone()
	up.Header.Del("Content-Length")
	up.ContentLength = int64(len(body))
	res, err := x.d.httpClient().Do(up)
	if err != nil {
		return fmt.Errorf("envoydriver: upstream: %w", err)
	}
	defer res.Body.Close()
	return x.responsePath(ctx, r, res.StatusCode, res.Header, res.Body, res.ContentLength == 0)
}

func (x *exchange) bufferedRequestBody(ctx context.Context, r *Request, h http.Header, body []byte) ([]byte, bool, error) {
	resp, err := x.roundTrip(ctx, &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: body, EndOfStream: true}}})
	if err != nil {
		return nil, false, err
	}
	if done, err := x.immediate(ctx, r, resp); done || err != nil {
		return nil, done, err
	}
	x.override(resp)
	common := resp.GetRequestBody().GetResponse()
	body, err = applyBuffered(h, body, common, x.mode.GetRequestHeaderMode() != filterv3.ProcessingMode_SKIP)
	return body, false, err
}

func (x *exchange) streamedRequestBody(ctx context.Context, r *Request, h http.Header, body []byte) ([]byte, bool, error) {
	var out []byte
	mutated := false
	pieces := chunk(body, x.d.chunkSize())
	for i, p := range pieces {
		resp, err := x.roundTrip(ctx, &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
			RequestBody: &extprocv3.HttpBody{Body: p, EndOfStream: i == len(pieces)-1}}})
		if err != nil {
			return nil, false, err
		}
		if done, err := x.immediate(ctx, r, resp); done || err != nil {
			return nil, done, err
		}
		x.override(resp)
		if bm := resp.GetRequestBody().GetResponse().GetBodyMutation(); bm != nil {
			mutated = true
			p = mutate(p, bm)
		}
		out = append(out, p...)
	}
	if mutated { // Envoy strips content-length in streamed modes
		h.Del("Content-Length")
	}
	return out, false, nil
}

func (d *Driver) chunkSize() int {
	if d.ChunkSize > 0 {
		return d.ChunkSize
	}
	return 64
}

func chunk(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

// applyBuffered applies a BUFFERED body reply: header mutation first, then
// the body mutation, checked against content-length as Envoy does.
func applyBuffered(h http.Header, body []byte, common *extprocv3.CommonResponse, headersSent bool) ([]byte, error) {
	if err := applyHeaders(h, common.GetHeaderMutation()); err != nil {
		return nil, err
	}
	bm := common.GetBodyMutation()
	if bm == nil {
		return body, nil
	}
	nb := mutate(body, bm)
	if common.GetStatus() == extprocv3.CommonResponse_CONTINUE_AND_REPLACE || !headersSent {
		h.Del("Content-Length")
		return nb, nil
	}
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.Atoi(cl); err == nil && n != len(nb) {
			return nil, fmt.Errorf("%w: content-length %d does not match the mutated body (%d bytes)", ErrRejected, n, len(nb))
		}
	}
	return nb, nil
}

func mutate(b []byte, bm *extprocv3.BodyMutation) []byte {
	switch m := bm.GetMutation().(type) {
	case *extprocv3.BodyMutation_Body:
		return bytes.Clone(m.Body)
	case *extprocv3.BodyMutation_ClearBody:
		if m.ClearBody {
			return []byte{}
		}
	}
	return b
}

// immediate handles an ImmediateResponse: it ends the exchange.
func (x *exchange) immediate(ctx context.Context, r *Request, resp *extprocv3.ProcessingResponse) (bool, error) {
	ir := resp.GetImmediateResponse()
	if ir == nil {
		return false, nil
	}
	if ir.GetStatus() == nil || ir.GetStatus().GetCode() < 200 {
		return true, fmt.Errorf("%w: immediate response without a valid status", ErrProtocol)
	}
	h := http.Header{}
	if err := applyHeaders(h, ir.GetHeaders()); err != nil {
		return true, err
	}
	if h.Get("Content-Type") == "" && len(ir.GetBody()) > 0 {
		h.Set("Content-Type", "text/plain") // Envoy's local reply default
	}
	x.resp.Status = int(ir.GetStatus().GetCode())
	x.resp.Header = h
	x.resp.Body = bytes.Clone(ir.GetBody())
	x.resp.Immediate = true
	x.resp.Details = ir.GetDetails()
	if !r.ReplayLocalReply {
		return true, nil
	}
	saved := *x.resp
	hdr := h.Clone()
	hdr.Set("Content-Length", strconv.Itoa(len(ir.GetBody())))
	err := x.responsePath(ctx, r, saved.Status, hdr, bytes.NewReader(ir.GetBody()), len(ir.GetBody()) == 0)
	// What the client gets is the local reply, whatever the replay did.
	saved.BodyMessages, saved.IgnoredOverrides, saved.RoundTrips = x.resp.BodyMessages, x.resp.IgnoredOverrides, x.resp.RoundTrips
	*x.resp = saved
	return true, err
}

// responsePath sends the response headers and body through the processor
// and fills in what the client gets.
func (x *exchange) responsePath(ctx context.Context, r *Request, status int, h http.Header, body io.Reader, empty bool) error {
	h = h.Clone()
	if x.mode.GetResponseHeaderMode() != filterv3.ProcessingMode_SKIP {
		resp, err := x.roundTrip(ctx, &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{
			ResponseHeaders: &extprocv3.HttpHeaders{Headers: headerMap([]string{":status", strconv.Itoa(status)}, h), EndOfStream: empty}}})
		if err != nil {
			return err
		}
		x.override(resp)
		if err := applyHeaders(h, resp.GetResponseHeaders().GetResponse().GetHeaderMutation()); err != nil {
			return err
		}
	}
	x.resp.Status, x.resp.Header = status, h
	if empty {
		return nil
	}
	switch bm := x.mode.GetResponseBodyMode(); bm {
	case filterv3.ProcessingMode_NONE:
		b, err := io.ReadAll(body)
		if err != nil {
			return fmt.Errorf("envoydriver: upstream body: %w", err)
		}
		x.resp.Body = b
		return nil
	case filterv3.ProcessingMode_BUFFERED:
		b, err := io.ReadAll(body)
		if err != nil {
			return fmt.Errorf("envoydriver: upstream body: %w", err)
		}
		resp, err := x.sendResponseBody(ctx, b, true)
		if err != nil {
			return err
		}
		b, err = applyBuffered(h, b, resp.GetResponseBody().GetResponse(), x.mode.GetResponseHeaderMode() != filterv3.ProcessingMode_SKIP)
		x.resp.Body = b
		return err
	case filterv3.ProcessingMode_STREAMED:
		return x.streamResponseBody(ctx, r, h, body)
	default:
		return fmt.Errorf("envoydriver: response_body_mode %v is not simulated", bm)
	}
}

func (x *exchange) sendResponseBody(ctx context.Context, b []byte, eos bool) (*extprocv3.ProcessingResponse, error) {
	x.resp.BodyMessages++
	resp, err := x.roundTrip(ctx, &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
		ResponseBody: &extprocv3.HttpBody{Body: b, EndOfStream: eos}}})
	if err != nil {
		return nil, err
	}
	x.override(resp)
	return resp, nil
}

// streamResponseBody sends the body in ChunkSize pieces, the last with
// end_of_stream, each answered before the next goes.
func (x *exchange) streamResponseBody(ctx context.Context, r *Request, h http.Header, body io.Reader) error {
	buf := make([]byte, x.d.chunkSize())
	var pending []byte
	have := false
	mutated := false
	send := func(p []byte, eos bool) error {
		abort := r.AbortAfterChunks > 0 && (x.resp.BodyMessages+1 >= r.AbortAfterChunks || eos)
		if abort {
			eos = false
		}
		resp, err := x.sendResponseBody(ctx, p, eos)
		if err != nil {
			return err
		}
		if bm := resp.GetResponseBody().GetResponse().GetBodyMutation(); bm != nil {
			mutated = true
			p = mutate(p, bm)
		}
		x.resp.Body = append(x.resp.Body, p...)
		if abort {
			return ErrAborted
		}
		return nil
	}
	for {
		n, err := fill(body, buf)
		piece := bytes.Clone(buf[:n])
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %w", ErrUpstreamBroken, err)
		}
		if err != nil {
			switch {
			case n > 0 && have:
				if err := send(pending, false); err != nil {
					return err
				}
				err = send(piece, true)
				return finishStreamed(err, mutated, x.resp)
			case n > 0:
				return finishStreamed(send(piece, true), mutated, x.resp)
			case have:
				return finishStreamed(send(pending, true), mutated, x.resp)
			default:
				return finishStreamed(send(nil, true), mutated, x.resp)
			}
		}
		if have {
			if err := send(pending, false); err != nil {
				return err
			}
		}
		pending, have = piece, true
	}
}

// fill reads until buf is full or the body ends: io.EOF is a clean end,
// any other error (io.ErrUnexpectedEOF from a cut chunked body) a broken
// one — unlike io.ReadFull, which reports a short clean body as
// io.ErrUnexpectedEOF too.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func finishStreamed(err error, mutated bool, resp *Response) error {
	if err == nil && mutated { // Envoy strips content-length in streamed modes
		resp.Header.Del("Content-Length")
	}
	return err
}

// headerMap renders pseudo-headers (name, value pairs) and h as Envoy
// does: lower-case keys, values in raw_value.
func headerMap(pseudo []string, h http.Header) *corev3.HeaderMap {
	m := &corev3.HeaderMap{}
	for i := 0; i+1 < len(pseudo); i += 2 {
		m.Headers = append(m.Headers, &corev3.HeaderValue{Key: pseudo[i], RawValue: []byte(pseudo[i+1])})
	}
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			m.Headers = append(m.Headers, &corev3.HeaderValue{Key: strings.ToLower(k), RawValue: []byte(v)})
		}
	}
	return m
}

// protectedHeader reports whether Envoy's default mutation rules ignore a
// change to k.
func protectedHeader(k string) bool {
	switch k {
	case "host", ":authority", ":scheme", ":method":
		return true
	}
	return strings.HasPrefix(k, "x-envoy-")
}

// applyHeaders applies a header mutation to h the way Envoy does (with
// send_header_raw_value, its default).
// pathMutation is the :path a request-headers mutation sets: the default
// mutation rules let a processor change it (not host, :authority,
// :scheme or :method), and Envoy routes the request by the new path.
func pathMutation(m *extprocv3.HeaderMutation) (string, bool) {
	for _, o := range m.GetSetHeaders() {
		if hv := o.GetHeader(); hv != nil && strings.ToLower(hv.GetKey()) == ":path" && len(hv.GetRawValue()) > 0 {
			return string(hv.GetRawValue()), true
		}
	}
	return "", false
}

func applyHeaders(h http.Header, m *extprocv3.HeaderMutation) error {
	if m == nil {
		return nil
	}
	for _, k := range m.GetRemoveHeaders() {
		k = strings.ToLower(k)
		if strings.HasPrefix(k, ":") || protectedHeader(k) {
			continue // never removed
		}
		h.Del(k)
	}
	for _, o := range m.GetSetHeaders() {
		hv := o.GetHeader()
		if hv == nil {
			continue
		}
		k := strings.ToLower(hv.GetKey())
		if hv.GetValue() != "" && len(hv.GetRawValue()) > 0 {
			return fmt.Errorf("%w: header %q sets both value and raw_value", ErrRejected, k)
		}
		if hv.GetValue() != "" {
			return fmt.Errorf("%w: header %q sets value, but Envoy reads raw_value and would set it empty", ErrRejected, k)
		}
		if k == "" || strings.HasPrefix(k, ":") || protectedHeader(k) {
			continue // ignored by the default mutation rules
		}
		v := string(hv.GetRawValue())
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("%w: header %q has an invalid value", ErrRejected, k)
		}
		present := len(h.Values(k)) > 0
		switch o.GetAppendAction() {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			// The zero value: Envoy then falls back to the deprecated
			// append flag, which defaults to false (overwrite).
			if o.GetAppend().GetValue() {
				h.Add(k, v)
			} else {
				h.Set(k, v)
			}
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			if !present {
				h.Set(k, v)
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD:
			h.Set(k, v)
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			if present {
				h.Set(k, v)
			}
		}
	}
	return nil
}
