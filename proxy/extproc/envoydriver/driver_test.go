package envoydriver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// fakeProc answers each message with reply(msg); a nil reply sends
// nothing.
type fakeProc struct {
	extprocv3.UnimplementedExternalProcessorServer
	reply func(*extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse
}

func (f *fakeProc) Process(s extprocv3.ExternalProcessor_ProcessServer) error {
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if r := f.reply(m); r != nil {
			if err := s.Send(r); err != nil {
				return err
			}
		}
	}
}

// continueAll is a well-behaved processor that changes nothing.
func continueAll(m *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
	c := &extprocv3.CommonResponse{}
	switch m.GetRequest().(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{Response: c}}}
	case *extprocv3.ProcessingRequest_RequestBody:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{Response: c}}}
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{Response: c}}}
	case *extprocv3.ProcessingRequest_ResponseBody:
		return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{Response: c}}}
	}
	return nil
}

// with replaces the reply to one kind of message.
func with(kind string, f func(*extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse) func(*extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
	return func(m *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
		if kindOf(m) == kind {
			return f(m)
		}
		return continueAll(m)
	}
}

func bodyMutation(body []byte, contentLength int) *extprocv3.ProcessingResponse {
	return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{
		Response: &extprocv3.CommonResponse{
			HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
				Header:       &corev3.HeaderValue{Key: "content-length", RawValue: []byte(strconv.Itoa(contentLength))},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			}}},
			BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: body}},
		}}}}
}

func streamedOverride(m *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
	r := continueAll(m)
	r.ModeOverride = &filterv3.ProcessingMode{ResponseHeaderMode: filterv3.ProcessingMode_SEND, ResponseBodyMode: filterv3.ProcessingMode_STREAMED}
	return r
}

func TestDriverEnforcesEnvoyRules(t *testing.T) {
	const sent = `{"hello":"world"}`
	for _, tc := range []struct {
		name    string
		reply   func(*extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse
		wantErr error
		check   func(t *testing.T, r *Response)
	}{
		{name: "pass-through", reply: continueAll, check: func(t *testing.T, r *Response) {
			if string(r.Upstream.Body) != sent || string(r.Body) != "echo:"+sent || r.BodyMessages != 0 {
				t.Fatalf("upstream %q, client %q, %d body messages", r.Upstream.Body, r.Body, r.BodyMessages)
			}
		}},
		{name: "wrong reply kind", wantErr: ErrProtocol, reply: with("request_headers", func(m *extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
			return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{}}}
		})},
		{name: "body mutation with matching content-length", reply: with("request_body", func(*extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
			return bodyMutation([]byte(`{"hello":"mutated world"}`), len(`{"hello":"mutated world"}`))
		}), check: func(t *testing.T, r *Response) {
			if string(r.Upstream.Body) != `{"hello":"mutated world"}` || r.Upstream.Header.Get("Content-Length") != "25" {
				t.Fatalf("upstream got %q (content-length %q)", r.Upstream.Body, r.Upstream.Header.Get("Content-Length"))
			}
		}},
		{name: "body mutation with stale content-length", wantErr: ErrRejected, reply: with("request_body", func(*extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
			return bodyMutation([]byte(`{"hello":"mutated world"}`), len(sent))
		})},
		{name: "header set in value, not raw_value", wantErr: ErrRejected, reply: with("request_headers", func(*extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
			return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{
				Response: &extprocv3.CommonResponse{HeaderMutation: &extprocv3.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
					Header: &corev3.HeaderValue{Key: "x-added", Value: "1"}}}}}}}}
		})},
		{name: "mode override on a header reply is honoured", reply: with("response_headers", streamedOverride), check: func(t *testing.T, r *Response) {
			if r.BodyMessages < 2 || string(r.Body) != "echo:"+sent || r.IgnoredOverrides != 0 {
				t.Fatalf("%d body messages, body %q, %d ignored overrides", r.BodyMessages, r.Body, r.IgnoredOverrides)
			}
		}},
		{name: "mode override on a body reply is ignored", reply: with("request_body", streamedOverride), check: func(t *testing.T, r *Response) {
			if r.BodyMessages != 0 || r.IgnoredOverrides != 1 {
				t.Fatalf("%d body messages, %d ignored overrides", r.BodyMessages, r.IgnoredOverrides)
			}
		}},
		{name: "no reply", wantErr: ErrMessageTimeout, reply: with("request_body", func(*extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
			return nil
		})},
		{name: "immediate response without status", wantErr: ErrProtocol, reply: with("request_body", func(*extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
			return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
				ImmediateResponse: &extprocv3.ImmediateResponse{Body: []byte("hi")}}}
		})},
		{name: "immediate response on the response path", wantErr: ErrProtocol, reply: with("response_headers", func(*extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
			return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
				ImmediateResponse: &extprocv3.ImmediateResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode_OK}}}}
		})},
		{name: "immediate response ends the exchange", reply: with("request_body", func(*extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse {
			return &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
				ImmediateResponse: &extprocv3.ImmediateResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode_OK}, Body: []byte("cached")}}}
		}), check: func(t *testing.T, r *Response) {
			if !r.Immediate || r.Upstream != nil || string(r.Body) != "cached" || r.Header.Get("Content-Type") != "text/plain" {
				t.Fatalf("immediate=%v upstream=%v body=%q type=%q", r.Immediate, r.Upstream != nil, r.Body, r.Header.Get("Content-Type"))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDriver(t, tc.reply)
			resp, err := d.Do(context.Background(), &Request{Method: http.MethodPost, Path: "/v1/x",
				Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(sent)})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, resp)
		})
	}
}

func newFakeDriver(t *testing.T, reply func(*extprocv3.ProcessingRequest) *extprocv3.ProcessingResponse) *Driver {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "echo:"+string(b))
	}))
	t.Cleanup(up.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	extprocv3.RegisterExternalProcessorServer(g, &fakeProc{reply: reply})
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	u, _ := url.Parse(up.URL)
	return &Driver{
		Client:   extprocv3.NewExternalProcessorClient(conn),
		Config:   FilterConfig{AllowModeOverride: true, MessageTimeout: 100 * time.Millisecond},
		Upstream: u, ChunkSize: 8,
	}
}

func TestChunk(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abcdefgh", 3, "abc|def|gh"},
		{"abcdef", 3, "abc|def"},
		{"ab", 3, "ab"},
	} {
		var parts []string
		for _, p := range chunk([]byte(tc.in), tc.n) {
			parts = append(parts, string(p))
		}
		if got := strings.Join(parts, "|"); got != tc.want {
			t.Errorf("chunk(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
