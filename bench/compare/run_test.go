package compare

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunAgainstRealSemcache builds cmd/semcache and runs a tiny compare
// with the similarity tier off: every request a miss, the answers stored,
// nothing dropped, figures measured.
func TestRunAgainstRealSemcache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts semcache")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go tool is not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "semcache")
	if out, err := exec.Command(gobin, "build", "-o", bin, "../../cmd/semcache").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	rep, err := Run(t.Context(), Options{Semcache: bin, Modes: []string{"off"}, Rounds: 1, LatencyRequests: 50, Warmup: 10,
		Concurrency: 4, ThroughputDuration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Summaries()
	if len(s) != 1 {
		t.Fatalf("%d rows", len(s))
	}
	got := s[0]
	misses := got.Verdicts["miss"]
	if got.Errors != 0 || misses < 50 || len(got.Verdicts) != 1 {
		t.Fatalf("errors %d, verdicts %v: want only misses", got.Errors, got.Verdicts)
	}
	// Warm-up + measured requests are all stored: none dropped.
	if got.WriteBack.Stored < float64(misses+10) || got.WriteBack.Dropped != 0 || got.WriteBack.Written != got.WriteBack.Stored {
		t.Errorf("write-back %+v for %d misses", got.WriteBack, misses)
	}
	if got.DirectP50 <= 0 || got.Throughput <= 0 || got.DirectThroughput <= 0 || got.RSS <= 0 || got.CPUThroughput <= 0 {
		t.Errorf("figures missing: %+v", got)
	}
	var out strings.Builder
	if err := rep.Print(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| semcache, semantic off |") {
		t.Errorf("table:\n%s", out.String())
	}
}
