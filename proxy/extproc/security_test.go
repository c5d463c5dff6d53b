package extproc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/proxy/extproc"
	"github.com/semcache/semcache/proxy/extproc/envoydriver"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf certificate; server ones are valid for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, name string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// secureStack is an ext_proc server with mTLS (and optionally a token)
// in front of a simulated upstream.
type secureStack struct {
	addr     string
	ca       *testCA
	serverCA *x509.CertPool
	up       *url.URL
	metrics  *engine.Metrics
}

func newSecureStack(t *testing.T, token string) *secureStack {
	t.Helper()
	dir := t.TempDir()
	ca := newCA(t, "envoy clients")
	serverCert, serverKey := ca.issue(t, "semcache", true)
	tlsCfg, err := extproc.TLSConfig(writeFile(t, dir, "server.pem", serverCert), writeFile(t, dir, "server.key", serverKey),
		writeFile(t, dir, "ca.pem", ca.pem))
	if err != nil {
		t.Fatal(err)
	}
	sim := upstream.New(upstream.Options{})
	upSrv := httptest.NewServer(sim)
	t.Cleanup(upSrv.Close)
	up, _ := url.Parse(upSrv.URL)
	c, err := cache.Open(cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	m := engine.NewMetrics(prometheus.NewRegistry(), 10, nil)
	eng, err := engine.New(engine.Options{Cache: c, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := extproc.NewServer(extproc.Options{Engine: eng, TLS: tlsCfg, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := srv.NewGRPCServer()
	go func() { _ = g.Serve(ln) }()
	t.Cleanup(g.Stop)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &secureStack{addr: ln.Addr().String(), ca: ca, serverCA: pool, up: up, metrics: m}
}

// driver dials the stack as Envoy would, with creds, towards upstream.
func (s *secureStack) driver(t *testing.T, creds credentials.TransportCredentials, upstream *url.URL, opts ...grpc.DialOption) *envoydriver.Driver {
	t.Helper()
	conn, err := grpc.NewClient(s.addr, append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fc := documentedConfig(t)
	fc.MessageTimeout = 10 * time.Second
	return &envoydriver.Driver{Client: extprocv3.NewExternalProcessorClient(conn), Config: fc, Upstream: upstream, EndTimeout: 2 * time.Second}
}

// clientTLS is a TLS client config trusting the server, presenting the
// certificate the given CA issued (none when ca is nil).
func (s *secureStack) clientTLS(t *testing.T, ca *testCA) credentials.TransportCredentials {
	cfg := &tls.Config{RootCAs: s.serverCA, MinVersion: tls.VersionTLS12}
	if ca != nil {
		certPEM, keyPEM := ca.issue(t, "envoy", false)
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg)
}

// forger is an "upstream" an attacker controls: every answer it gives is
// the forged one.
func forger(t *testing.T) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"x","object":"chat.completion","created":1,"model":"sim-gpt","choices":[{"index":0,"message":{"role":"assistant","content":"FORGED: wire the money to account 666"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`))
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

// TestExtProcMutualTLS: with mTLS on the gRPC listener, Envoy with a
// certificate from the configured CA is served; a client without a
// certificate, with one from another CA, or in plaintext cannot open a
// stream, so the answer it forges is never stored or served.
func TestExtProcMutualTLS(t *testing.T) {
	s := newSecureStack(t, "")
	ctx := context.Background()
	body := chatBody("What is the boiling point of water at sea level?", false)
	forged := forger(t)
	for _, tc := range []struct {
		name  string
		creds credentials.TransportCredentials
	}{
		{"no client certificate", s.clientTLS(t, nil)},
		{"certificate of another CA", s.clientTLS(t, newCA(t, "attacker"))},
		{"plaintext", insecure.NewCredentials()},
	} {
		d := s.driver(t, tc.creds, forged)
		resp, err := d.Do(ctx, chatRequest("victim-key", body))
		if err == nil {
			t.Fatalf("%s: the exchange went through (status %d)", tc.name, resp.Status)
		}
	}
	envoy := s.driver(t, s.clientTLS(t, s.ca), s.up)
	first, err := envoy.Do(ctx, chatRequest("victim-key", body))
	if err != nil {
		t.Fatal(err)
	}
	if first.Header.Get("X-Semcache") != "miss" || strings.Contains(string(first.Body), "FORGED") {
		t.Fatalf("Envoy with a certificate: X-Semcache %q, body %s", first.Header.Get("X-Semcache"), first.Body)
	}
	second, err := envoy.Do(ctx, chatRequest("victim-key", body))
	if err != nil || second.Header.Get("X-Semcache") != "hit-exact" || strings.Contains(string(second.Body), "FORGED") {
		t.Fatalf("second request: %v %q %s", err, second.Header.Get("X-Semcache"), second.Body)
	}
}

// TestExtProcToken: with a token, a client (even one with a certificate)
// that does not send it is refused with Unauthenticated; health checks
// need none.
func TestExtProcToken(t *testing.T) {
	s := newSecureStack(t, "s3cret")
	ctx := context.Background()
	body := chatBody("How many legs does a spider have?", false)
	creds := s.clientTLS(t, s.ca)
	if _, err := s.driver(t, creds, forger(t)).Do(ctx, chatRequest("k", body)); err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Fatalf("without the token: %v", err)
	}
	wrong := s.driver(t, creds, forger(t), grpc.WithStreamInterceptor(withToken("guess")))
	if _, err := wrong.Do(ctx, chatRequest("k", body)); err == nil {
		t.Fatal("a wrong token was accepted")
	}
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health check without the token: %v %v", hr, err)
	}
	right := s.driver(t, creds, s.up, grpc.WithStreamInterceptor(withToken("s3cret")))
	resp, err := right.Do(ctx, chatRequest("k", body))
	if err != nil || resp.Header.Get("X-Semcache") != "miss" || strings.Contains(string(resp.Body), "FORGED") {
		t.Fatalf("with the token: %v %v %s", err, resp, resp.Body)
	}
}

// withToken adds the shared secret to every stream, as Envoy's
// initial_metadata does.
func withToken(tok string) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(metadata.AppendToOutgoingContext(ctx, extproc.TokenMetadata, tok), desc, cc, method, opts...)
	}
}

// TestDocumentedClusterUsesMutualTLS: the documented Envoy config talks to
// semcache over mutual TLS and sends the token.
func TestDocumentedClusterUsesMutualTLS(t *testing.T) {
	var bs bootstrapv3.Bootstrap
	yamlProto(t, filepath.Join(docsDir, "envoy.yaml"), &bs)
	found := false
	for _, c := range bs.GetStaticResources().GetClusters() {
		if c.GetName() != "semcache_extproc" {
			continue
		}
		found = true
		var tc tlsv3.UpstreamTlsContext
		if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(&tc); err != nil {
			t.Fatalf("semcache cluster without TLS: %v", err)
		}
		ctx := tc.GetCommonTlsContext()
		if len(ctx.GetTlsCertificates()) == 0 || ctx.GetValidationContext().GetTrustedCa().GetFilename() == "" {
			t.Fatalf("semcache cluster TLS is not mutual: %v", ctx)
		}
	}
	if !found {
		t.Fatal("no semcache_extproc cluster")
	}
	md := documentedFilter(t).GetGrpcService().GetInitialMetadata()
	if len(md) != 1 || md[0].GetKey() != extproc.TokenMetadata {
		t.Fatalf("the filter does not send %s: %v", extproc.TokenMetadata, md)
	}
}
