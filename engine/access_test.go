package engine

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/cache"
)

func TestCheckPath(t *testing.T) {
	tests := []struct {
		path, raw string
		ok        bool
	}{
		{"/v1/chat/completions", "/v1/chat/completions", true},
		{"/v1/models/gpt-4o", "/v1/models/gpt-4o", true},
		{"/v1/files/file-abc/content", "/v1/files/file-abc/content", true},
		{"/v1/a..b/x", "/v1/a..b/x", true},            // dots inside a segment are a name
		{"/v1/../../x", "/v1/%2e%2e/%2e%2e/x", false}, // the escape the issue names
		{"/v1/../../x", "/v1/%2E%2E/%2E%2E/x", false}, // upper-case escapes
		{"/v1/./models", "/v1/%2e/models", false},     // a single dot
		{"/v1/models/..", "/v1/models/..", false},     // trailing
		{"/v1/a/b", "/v1/a%2fb", false},               // an encoded slash joins segments
		{"/v1/a/b", "/v1/a%2Fb", false},               // …in upper case
		{`/v1/a\..\x`, `/v1/a%5c..%5cx`, false},       // backslash
		{"/v1/a\x00b", "/v1/a%00b", false},            // NUL
		{"/v1/a\nb", "/v1/a%0ab", false},              // control character
		{"v1/models", "v1/models", false},             // not absolute
		{"/v1/models", "", true},                      // a front without the raw path
		{"/v1/chat/completions/..", "", false},        // …still checks the decoded one
	}
	for _, tt := range tests {
		err := CheckPath(tt.path, tt.raw)
		if (err == nil) != tt.ok {
			t.Errorf("CheckPath(%q, %q) = %v, want ok=%v", tt.path, tt.raw, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadPath) {
			t.Errorf("CheckPath(%q): %v does not wrap ErrBadPath", tt.path, err)
		}
	}
}

func TestPassthroughAllowList(t *testing.T) {
	p, err := NewPassthrough(DefaultPassthrough)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"/v1/models":                         true,
		"/v1/models/gpt-4o":                  true,
		"/v1/files/file-1/content":           true,
		"/v1/responses/resp_1/input_items":   true,
		"/v1/modelsx":                        false, // a prefix is a whole segment
		"/v1/organization/admin_api_keys":    false, // the admin API is not relayed
		"/v1/organization/usage/completions": false,
		"/v1/x":                              false,
		"/v2/models":                         false,
		"/":                                  false,
	} {
		if got := p.Allowed(path); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", path, got, want)
		}
	}
	if _, err := NewPassthrough([]string{"/v1/models", "models", "/v1/../x", "/v2/x", "/v1/a?b"}); err == nil ||
		strings.Count(err.Error(), "passthrough") != 4 {
		t.Fatalf("every bad entry reported: %v", err)
	}
	none, _ := NewPassthrough([]string{})
	if none.Allowed("/v1/models") {
		t.Fatal("an empty allow-list passes through")
	}
}

func TestClientAuth(t *testing.T) {
	sum := sha256.Sum256([]byte("sk-hashed"))
	a, err := NewClientAuth([]string{"sk-raw", "sha256:" + hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		h    http.Header
		want bool
	}{
		{http.Header{"Authorization": {"Bearer sk-raw"}}, true},
		{http.Header{"Authorization": {"bearer  sk-raw "}}, true},
		{http.Header{"Api-Key": {"sk-hashed"}}, true},
		{http.Header{"Authorization": {"Bearer sk-raw2"}}, false},
		{http.Header{"Authorization": {"Bearer sha256:" + hex.EncodeToString(sum[:])}}, false}, // the hash is not a key
		{http.Header{}, false},
	} {
		if got := a.Allowed(tt.h); got != tt.want {
			t.Errorf("Allowed(%v) = %v, want %v", tt.h, got, tt.want)
		}
	}
	if _, err := NewClientAuth(nil); err == nil {
		t.Fatal("no keys accepted")
	}
	if _, err := NewClientAuth([]string{"sha256:abc", " "}); err == nil || !strings.Contains(err.Error(), "64 hex") || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("bad keys: %v", err)
	}
}

func TestRouteIdentity(t *testing.T) {
	hdrs := DefaultKeyHeaders
	base := routeIdentity("", hdrs, http.Header{"Authorization": {"Bearer x"}, "User-Agent": {"a"}})
	if base != "" {
		t.Fatalf("a request without route headers has identity %q", base)
	}
	a := routeIdentity("", hdrs, http.Header{"Openai-Project": {"p1"}})
	b := routeIdentity("", hdrs, http.Header{"Openai-Project": {"p2"}})
	c := routeIdentity("api.example.com", hdrs, http.Header{})
	d := routeIdentity("API.example.com", hdrs, http.Header{})
	e := routeIdentity("", []string{"X-Tenant-Route"}, http.Header{"X-Tenant-Route": {"blue"}})
	f := routeIdentity("", nil, http.Header{"Openai-Project": {"p1"}})
	switch {
	case a == "" || a == b:
		t.Fatalf("project headers: %q %q", a, b)
	case c == "" || c != d:
		t.Fatalf("authority (case-insensitive): %q %q", c, d)
	case e == "":
		t.Fatal("a configured header is ignored")
	case f != "":
		t.Fatal("an empty key_headers list still keys on headers")
	}
}

func TestDecodeBody(t *testing.T) {
	plain := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	var gz, zl, fl bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(plain)
	_ = zw.Close()
	zlw := zlib.NewWriter(&zl)
	_, _ = zlw.Write(plain)
	_ = zlw.Close()
	fw, _ := flate.NewWriter(&fl, flate.BestSpeed)
	_, _ = fw.Write(plain)
	_ = fw.Close()
	var bomb bytes.Buffer
	bw := gzip.NewWriter(&bomb)
	_, _ = io.Copy(bw, io.LimitReader(zeros{}, 10<<20))
	_ = bw.Close()
	tests := []struct {
		name, enc string
		body      []byte
		want      []byte
		err       error
	}{
		{"identity", "", plain, plain, nil},
		{"gzip", "gzip", gz.Bytes(), plain, nil},
		{"x-gzip", "x-gzip", gz.Bytes(), plain, nil},
		{"deflate (zlib)", "deflate", zl.Bytes(), plain, nil},
		{"deflate (raw)", "deflate", fl.Bytes(), plain, nil},
		{"bomb", "gzip", bomb.Bytes(), nil, &http.MaxBytesError{}},
		{"not gzip", "gzip", plain, nil, ErrUnreadableBody},
		{"truncated gzip", "gzip", gz.Bytes()[:gz.Len()/2], nil, ErrUnreadableBody},
		{"br", "br", plain, nil, ErrUnsupportedEncoding},
	}
	for _, tt := range tests {
		got, err := decodeBody(tt.enc, tt.body, 1<<20)
		switch want := tt.err.(type) {
		case nil:
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("%s: %q, %v", tt.name, got, err)
			}
		case *http.MaxBytesError:
			var mbe *http.MaxBytesError
			if !errors.As(err, &mbe) || mbe.Limit != 1<<20 {
				t.Errorf("%s: err %v, want a MaxBytesError", tt.name, err)
			}
		default:
			if !errors.Is(err, want) {
				t.Errorf("%s: err %v, want %v", tt.name, err, want)
			}
		}
	}
	if n := bomb.Len(); n > 64<<10 {
		t.Fatalf("the bomb is %d bytes compressed: not a bomb", n)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestUpstreamStorable(t *testing.T) {
	tests := []struct {
		cc     []string
		ok     bool
		maxAge time.Duration
	}{
		{nil, true, 0},
		{[]string{"no-cache"}, true, 0},
		{[]string{"no-store"}, false, 0},
		{[]string{"public", "No-Store"}, false, 0},
		{[]string{"private, max-age=60"}, false, 0},
		{[]string{"max-age=60"}, true, time.Minute},
		{[]string{`max-age="90"`}, true, 90 * time.Second},
		{[]string{"max-age=0"}, false, 0},
		{[]string{"s-maxage=30, max-age=600"}, true, 30 * time.Second},
		{[]string{"max-age=600, s-maxage=0"}, false, 0},
		{[]string{"max-age=junk"}, true, 0},
	}
	for _, tt := range tests {
		ok, maxAge := upstreamStorable(http.Header{"Cache-Control": tt.cc})
		if ok != tt.ok || maxAge != tt.maxAge {
			t.Errorf("%q: %v %v, want %v %v", tt.cc, ok, maxAge, tt.ok, tt.maxAge)
		}
	}
}

// TestUpstreamMaxAgeCapsTTL: the upstream's max-age shortens the entry's
// lifetime (it never lengthens it past the request's or the default).
func TestUpstreamMaxAgeCapsTTL(t *testing.T) {
	clk := time.Unix(1_800_000_000, 0)
	c, err := cache.Open(cache.Options{MaxBytes: 1 << 20, TTL: time.Hour, Now: func() time.Time { return clk }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e, err := New(Options{Cache: c, Metrics: NewMetrics(prometheus.NewRegistry(), 10, nil), Now: func() time.Time { return clk }})
	if err != nil {
		t.Fatal(err)
	}
	answer := []byte(`{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}]}`)
	for _, tt := range []struct {
		name, cc, reqTTL string
		want             time.Duration
	}{
		{"default TTL", "", "", time.Hour},
		{"max-age caps the default", "max-age=60", "", time.Minute},
		{"max-age caps the request's TTL", "max-age=60", "600", time.Minute},
		{"the request's shorter TTL stands", "max-age=600", "30", 30 * time.Second},
		{"a longer max-age does not lengthen", "max-age=86400", "", time.Hour},
	} {
		body := `{"model":"m","messages":[{"role":"user","content":"` + tt.name + `"}]}`
		hdr := http.Header{}
		if tt.reqTTL != "" {
			hdr.Set("X-Semcache-TTL", tt.reqTTL)
		}
		call := e.Begin(FrontHTTP, http.MethodPost, chatPath, hdr)
		p := call.Plan(context.Background(), []byte(body), true)
		if p.Upstream == nil {
			t.Fatalf("%s: not a miss", tt.name)
		}
		r := call.Upstream(http.StatusOK, http.Header{"Content-Type": {"application/json"}, "Cache-Control": {tt.cc}})
		if r.Observe {
			call.Write(answer)
		}
		call.Finish(true)
		call.End()
		res := c.Get(context.Background(), call.items[0])
		if res.Entry == nil || res.Entry.ExpiresAt.Sub(res.Entry.CreatedAt) != tt.want {
			t.Fatalf("%s: entry %+v, want a lifetime of %v", tt.name, res.Entry, tt.want)
		}
	}
}

// FuzzDecodeBody: whatever arrives, decoding never panics and never
// returns more than the limit.
func FuzzDecodeBody(f *testing.F) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"model":"m"}`))
	_ = zw.Close()
	f.Add("gzip", gz.Bytes())
	f.Add("deflate", []byte{0x78, 0x9c, 0x03, 0x00})
	f.Add("deflate", []byte("raw"))
	f.Add("", []byte("{}"))
	f.Add("br", []byte{1})
	f.Fuzz(func(t *testing.T, enc string, body []byte) {
		out, err := decodeBody(enc, body, 4096)
		if err == nil && len(out) > 4096 {
			t.Fatalf("%d bytes past a 4096-byte limit", len(out))
		}
	})
}

// FuzzCheckPath: a path that passes has no dot segment, whatever its
// escapes were.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/v1/models", "/v1/%2e%2e/x", "/v1/a%2fb", "/v1/./x", "/v1/..", "/v1//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse("http://h" + raw)
		if err != nil || u.Path == "" {
			return
		}
		if CheckPath(u.Path, u.EscapedPath()) != nil {
			return
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q passed with a dot segment (%q)", raw, u.Path)
			}
		}
		if strings.Contains(strings.ToLower(u.EscapedPath()), "%2f") {
			t.Fatalf("%q passed with an encoded slash", raw)
		}
	})
}
