package engine

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// BuildInfo is what semcache_build_info reports about the running binary.
type BuildInfo struct {
	// Version is the main module's version ("(devel)" for a plain go
	// build of a checkout without a tag), GoVersion the toolchain's,
	// Revision the VCS commit (with "-dirty" when the tree was modified);
	// "unknown" when the binary does not record it.
	Version, GoVersion, Revision string
}

// ReadBuildInfo reads the binary's build information
// (runtime/debug.ReadBuildInfo).
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Version: "unknown", GoVersion: runtime.Version(), Revision: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && b.Revision != "unknown" {
		b.Revision += "-dirty"
	}
	return b
}

// newBuildInfo is semcache_build_info: a gauge of 1 whose labels say
// which build runs (join on it to tell versions apart in a fleet).
func newBuildInfo() *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "semcache_build_info", Help: "Always 1; the labels name the running build: version, goversion, revision (VCS commit).",
	}, []string{"version", "goversion", "revision"})
	b := ReadBuildInfo()
	g.WithLabelValues(b.Version, b.GoVersion, b.Revision).Set(1)
	return g
}
