package extproc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TokenMetadata is the gRPC metadata key that carries the shared secret
// (Options.Token). In Envoy, set it in the filter's grpc_service:
//
//	grpc_service:
//	  envoy_grpc: {cluster_name: semcache}
//	  initial_metadata: [{key: x-semcache-token, value: "<token>"}]
const TokenMetadata = "x-semcache-token"

// errToken is a call without the shared secret, or with another one.
var errToken = status.Error(codes.Unauthenticated, "semcache: missing or wrong "+TokenMetadata)

// TLSConfig loads the listener's TLS settings: the server certificate and
// key (PEM), and, when clientCAFile is set, the CA bundle every client
// (Envoy) must present a certificate from: mutual TLS. Without mTLS any
// client that reaches the port can send made-up upstream answers, which
// are then stored and served.
func TLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("extproc: TLS needs a certificate and a key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("extproc: TLS key pair: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("extproc: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("extproc: client CA %s: no PEM certificate in it", clientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// tokenCheck returns interceptors that admit only calls carrying the
// token (compared in constant time, over hashes). The health service
// stays open: it tells nothing and Envoy's health checker may not send
// metadata.
func tokenCheck(token string) []grpc.ServerOption {
	want := sha256.Sum256([]byte(token))
	ok := func(ctx context.Context, method string) bool {
		if strings.HasPrefix(method, "/grpc.health.v1.Health/") {
			return true
		}
		md, _ := metadata.FromIncomingContext(ctx)
		for _, v := range md.Get(TokenMetadata) {
			got := sha256.Sum256([]byte(v))
			if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
				return true
			}
		}
		return false
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if !ok(ctx, info.FullMethod) {
				return nil, errToken
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if !ok(ss.Context(), info.FullMethod) {
				return errToken
			}
			return h(srv, ss)
		}),
	}
}
