package extproc_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	authzfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	filterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"

	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/proxy/extproc"
	"github.com/semcache/semcache/proxy/extproc/envoydriver"
	"github.com/semcache/semcache/wire"
)

const docsDir = "../../docs/envoy"

// yamlProto reads a YAML file into a proto message the way Envoy reads its
// config (unknown fields are errors).
func yamlProto(t testing.TB, path string, m proto.Message) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := protojson.Unmarshal(j, m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// documentedFilter returns the ext_proc filter of docs/envoy/envoy.yaml,
// validated.
func documentedFilter(t testing.TB) *filterv3.ExternalProcessor {
	t.Helper()
	var bs bootstrapv3.Bootstrap
	yamlProto(t, filepath.Join(docsDir, "envoy.yaml"), &bs)
	if err := bs.ValidateAll(); err != nil {
		t.Fatalf("envoy.yaml: %v", err)
	}
	for _, l := range bs.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
					continue
				}
				for _, hf := range hcm.GetHttpFilters() {
					var ep filterv3.ExternalProcessor
					if hf.GetTypedConfig().UnmarshalTo(&ep) == nil {
						return &ep
					}
				}
			}
		}
	}
	t.Fatal("envoy.yaml: no ext_proc filter")
	return nil
}

// documentedConfig is the driver configuration docs/envoy/envoy.yaml
// describes: the tests drive semcache with it.
func documentedConfig(t testing.TB) envoydriver.FilterConfig {
	ep := documentedFilter(t)
	return envoydriver.FilterConfig{
		Mode:                 ep.GetProcessingMode(),
		AllowModeOverride:    ep.GetAllowModeOverride(),
		AllowedOverrideModes: ep.GetAllowedOverrideModes(),
		MessageTimeout:       ep.GetMessageTimeout().AsDuration(),
	}
}

func TestDocumentedEnvoyConfig(t *testing.T) {
	ep := documentedFilter(t)
	if !ep.GetFailureModeAllow() {
		t.Error("failure_mode_allow must be on: semcache must never block traffic")
	}
	if d := ep.GetMessageTimeout().AsDuration(); d < extproc.DefaultLookupTimeout+20*time.Millisecond {
		t.Errorf("message_timeout %v leaves no room above the %v lookup budget", d, extproc.DefaultLookupTimeout)
	}
	if !proto.Equal(ep.GetProcessingMode(), envoydriver.RecommendedMode()) {
		t.Errorf("processing_mode %v, want %v", ep.GetProcessingMode(), envoydriver.RecommendedMode())
	}
	if !ep.GetAllowModeOverride() {
		t.Error("allow_mode_override must be on")
	}
	for _, m := range []*filterv3.ProcessingMode{extproc.ObserveMode(), extproc.PassMode()} {
		if !slices.ContainsFunc(ep.GetAllowedOverrideModes(), func(a *filterv3.ProcessingMode) bool { return proto.Equal(a, m) }) {
			t.Errorf("allowed_override_modes lacks %v", m)
		}
	}

	var filters struct {
		HTTPFilters []json.RawMessage `json:"http_filters"`
	}
	b, err := os.ReadFile(filepath.Join(docsDir, "envoy-ext-authz.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(v)
	if err := json.Unmarshal(j, &filters); err != nil || len(filters.HTTPFilters) == 0 {
		t.Fatalf("envoy-ext-authz.yaml: %v", err)
	}
	var hf hcmv3.HttpFilter
	if err := protojson.Unmarshal(filters.HTTPFilters[0], &hf); err != nil {
		t.Fatalf("envoy-ext-authz.yaml: %v", err)
	}
	var az authzfilterv3.ExtAuthz
	if err := hf.GetTypedConfig().UnmarshalTo(&az); err != nil {
		t.Fatalf("envoy-ext-authz.yaml: %v", err)
	}
	if err := az.ValidateAll(); err != nil {
		t.Fatalf("envoy-ext-authz.yaml: %v", err)
	}
	if az.GetWithRequestBody() == nil || !az.GetFailureModeAllow() {
		t.Error("ext_authz needs with_request_body and failure_mode_allow")
	}
}

// TestDocumentedRoutesCoverTheCachedAPIs checks that envoy.yaml sends
// exactly the APIs the engine caches through the processor.
func TestDocumentedRoutesCoverTheCachedAPIs(t *testing.T) {
	var bs bootstrapv3.Bootstrap
	yamlProto(t, filepath.Join(docsDir, "envoy.yaml"), &bs)
	var processed []*regexp.Regexp
	for _, l := range bs.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
					continue
				}
				for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
					for _, r := range vh.GetRoutes() {
						if _, off := r.GetTypedPerFilterConfig()["envoy.filters.http.ext_proc"]; off {
							continue
						}
						re := r.GetMatch().GetSafeRegex().GetRegex()
						if p := r.GetMatch().GetPath(); p != "" {
							re = "^" + regexp.QuoteMeta(p) + "$"
						}
						processed = append(processed, regexp.MustCompile(re))
					}
				}
			}
		}
	}
	matches := func(path string) bool {
		return slices.ContainsFunc(processed, func(re *regexp.Regexp) bool { return re.MatchString(path) })
	}
	for _, ep := range engine.Endpoints(wire.PromptLastMessage) {
		if !matches(ep.Path) {
			t.Errorf("envoy.yaml does not send %s (%s) through semcache", ep.Path, ep.Name)
		}
	}
	for _, p := range []string{"/v1/models", "/v1/files", "/v1/chat/completions/x"} {
		if matches(p) {
			t.Errorf("envoy.yaml sends %s through semcache, which does not cache it", p)
		}
	}
}
