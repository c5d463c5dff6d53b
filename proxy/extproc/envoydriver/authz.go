package envoydriver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
)

// AuthzDriver plays Envoy's ext_authz HTTP filter configured with
// with_request_body: one Check per request, then the upstream call when
// the request is allowed.
type AuthzDriver struct {
	Client authv3.AuthorizationClient
	// Upstream is where allowed requests go (see Driver.Upstream).
	Upstream *url.URL
	// HTTPClient calls the upstream (default as for Driver).
	HTTPClient *http.Client
	// PackAsBytes sends the body in raw_body instead of body
	// (with_request_body.pack_as_bytes).
	PackAsBytes bool
}

// Do checks one request and, when allowed, forwards it upstream.
func (d *AuthzDriver) Do(ctx context.Context, r *Request) (*Response, error) {
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	hdr := r.Header.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	authority := r.Authority
	if authority == "" {
		authority = d.Upstream.Host
	}
	flat := map[string]string{":method": method, ":path": r.Path, ":authority": authority}
	for k, vs := range hdr {
		flat[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	if len(r.Body) > 0 {
		flat["content-length"] = strconv.Itoa(len(r.Body))
	}
	hr := &authv3.AttributeContext_HttpRequest{
		Method: method, Path: r.Path, Host: authority, Scheme: "http", Protocol: "HTTP/1.1",
		Headers: flat, Size: int64(len(r.Body)),
	}
	if d.PackAsBytes {
		hr.RawBody = bytes.Clone(r.Body)
	} else {
		hr.Body = string(r.Body)
	}
	res, err := d.Client.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: hr}}})
	if err != nil {
		return nil, fmt.Errorf("envoydriver: check: %w", err)
	}
	if codes.Code(res.GetStatus().GetCode()) != codes.OK {
		denied := res.GetDeniedResponse()
		status := http.StatusForbidden // Envoy's default for a denial
		if c := denied.GetStatus().GetCode(); c > 0 {
			status = int(c)
		}
		h := http.Header{}
		addAuthzHeaders(h, denied.GetHeaders())
		return &Response{Status: status, Header: h, Body: []byte(denied.GetBody()), Denied: true}, nil
	}
	ok := res.GetOkResponse()
	addAuthzHeaders(hdr, ok.GetHeaders())
	for _, k := range ok.GetHeadersToRemove() {
		hdr.Del(k)
	}
	target := strings.TrimSuffix(d.Upstream.String(), "/") + r.Path
	up, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(r.Body))
	if err != nil {
		return nil, fmt.Errorf("envoydriver: upstream request: %w", err)
	}
	up.Header = hdr.Clone()
	client := d.HTTPClient
	if client == nil {
		client = defaultHTTPClient
	}
	resp, err := client.Do(up)
	if err != nil {
		return nil, fmt.Errorf("envoydriver: upstream: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("envoydriver: upstream body: %w", err)
	}
	rh := resp.Header.Clone()
	addAuthzHeaders(rh, ok.GetResponseHeadersToAdd())
	return &Response{Status: resp.StatusCode, Header: rh, Body: body,
		Upstream: &Forwarded{Method: method, Path: r.Path, Header: hdr, Body: bytes.Clone(r.Body)}}, nil
}

// addAuthzHeaders applies ext_authz header options, which Envoy reads
// from value.
func addAuthzHeaders(h http.Header, opts []*corev3.HeaderValueOption) {
	for _, o := range opts {
		k, v := o.GetHeader().GetKey(), o.GetHeader().GetValue()
		if v == "" {
			v = string(o.GetHeader().GetRawValue())
		}
		if o.GetAppendAction() == corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD && o.GetAppend().GetValue() {
			h.Add(k, v)
		} else {
			h.Set(k, v)
		}
	}
}
