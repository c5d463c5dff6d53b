package extproc

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/semcache/semcache/engine"
)

// DefaultLookupTimeout bounds the engine work on one request body. Envoy's
// default message_timeout is 200 ms; this leaves room for the gRPC round
// trip and scheduling.
const DefaultLookupTimeout = 150 * time.Millisecond

// Options configure a Server.
type Options struct {
	Engine *engine.Engine
	// LookupTimeout bounds the engine work on one request body: the lookup
	// and, on a miss, the RAG enrichment share it (default 150 ms). Keep it
	// well below the filter's message_timeout: past it the request is a
	// miss (or goes upstream without context) instead of waiting.
	LookupTimeout time.Duration
	// MaxBodyBytes bounds the request body that is looked up (default
	// engine.DefaultMaxBodyBytes; larger bodies pass through uncached).
	MaxBodyBytes int
	// TLS, when set, serves gRPC over TLS; with ClientCAs and
	// tls.RequireAndVerifyClientCert (see TLSConfig) only clients with a
	// certificate from those CAs get in (mTLS).
	TLS *tls.Config
	// Token, when set, must arrive with every ext_proc and ext_authz call
	// as the gRPC metadata TokenMetadata.
	Token  string
	Logger *slog.Logger
}

// Server implements the ext_proc and ext_authz services over one engine.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer
	authv3.UnimplementedAuthorizationServer

	engine        *engine.Engine
	lookupTimeout time.Duration
	maxBody       int
	tls           *tls.Config
	token         string
	log           *slog.Logger
}

var (
	_ extprocv3.ExternalProcessorServer = (*Server)(nil)
	_ authv3.AuthorizationServer        = (*Server)(nil)
)

// NewServer validates its options.
func NewServer(o Options) (*Server, error) {
	var errs []error
	if o.Engine == nil {
		errs = append(errs, errors.New("extproc: server needs an engine"))
	}
	if o.LookupTimeout < 0 || o.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("extproc: LookupTimeout and MaxBodyBytes must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.LookupTimeout == 0 {
		o.LookupTimeout = DefaultLookupTimeout
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = engine.DefaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Engine.Serve(engine.FrontExtProc)
	o.Engine.Serve(engine.FrontExtAuthz)
	return &Server{engine: o.Engine, lookupTimeout: o.LookupTimeout, maxBody: o.MaxBodyBytes, tls: o.TLS, token: o.Token,
		log: o.Logger}, nil
}

// Register adds both services to a gRPC server.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	extprocv3.RegisterExternalProcessorServer(r, s)
	authv3.RegisterAuthorizationServer(r, s)
}

// NewGRPCServer returns a gRPC server serving both services and the
// standard health service (for Envoy's grpc_health_check), tuned for
// Envoy: messages as large as a buffered body, and keepalive pings from
// Envoy accepted. It serves TLS (and checks client certificates) and the
// token when the options ask for them.
func (s *Server) NewGRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.maxBody + 1<<20),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
	if s.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.tls)))
	}
	if s.token != "" {
		opts = append(opts, tokenCheck(s.token)...)
	}
	opts = append(opts, extra...)
	g := grpc.NewServer(opts...)
	s.Register(g)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(extprocv3.ExternalProcessor_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, hs)
	return g
}

// headerText returns a header value as Envoy sent it: raw_value (current
// Envoy) or value (older Envoy, or ext_authz).
func headerText(h *corev3.HeaderValue) string {
	if len(h.GetRawValue()) > 0 {
		return string(h.GetRawValue())
	}
	return h.GetValue()
}

// requestHeaders converts Envoy's header map to an http.Header, leaving the
// pseudo-headers (":path", ":method", …) in pseudo.
func requestHeaders(m *corev3.HeaderMap) (h http.Header, pseudo map[string]string) {
	h, pseudo = http.Header{}, map[string]string{}
	for _, hv := range m.GetHeaders() {
		k := hv.GetKey()
		if strings.HasPrefix(k, ":") {
			pseudo[k] = headerText(hv)
			continue
		}
		h.Add(k, headerText(hv))
	}
	return h, pseudo
}

// headerOptions renders headers for Envoy, keys lower-cased, each
// overwriting what is there; rawValue picks raw_value (ext_proc) or value
// (ext_authz). Several values of one key are joined with commas: Envoy
// appends only through a deprecated flag.
func headerOptions(h http.Header, rawValue bool) []*corev3.HeaderValueOption {
	out := make([]*corev3.HeaderValueOption, 0, len(h))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		v := strings.Join(h[k], ", ")
		hv := &corev3.HeaderValue{Key: strings.ToLower(k)}
		if rawValue {
			hv.RawValue = []byte(v)
		} else {
			hv.Value = v
		}
		out = append(out, &corev3.HeaderValueOption{Header: hv, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
	}
	return out
}
