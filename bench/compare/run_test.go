package compare

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
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
	out := printed(t, rep)
	if !strings.Contains(out, "| semcache, semantic off |") {
		t.Errorf("table:\n%s", out)
	}
}

// printed is rep as Print writes it.
func printed(t *testing.T, rep Report) string {
	t.Helper()
	var out strings.Builder
	if err := rep.Print(&out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestMain runs ServeBare when the test binary is started as the bare
// proxy of TestRunBare.
func TestMain(m *testing.M) {
	if up := os.Getenv("COMPARE_TEST_BARE_UPSTREAM"); up != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		u, err := url.Parse(up)
		if err == nil {
			err = ServeBare(ctx, u, os.Getenv("COMPARE_TEST_BARE_STACK"), os.Stdout)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// bareCommand is Options.BareCommand for this test binary as the bare
// proxy (see TestMain).
func bareCommand(t *testing.T) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	// The bare command gets "--stack STACK --upstream URL" appended; a
	// shell passes them on to the test binary through the environment.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	return []string{sh, "-c", `COMPARE_TEST_BARE_STACK="$2" COMPARE_TEST_BARE_UPSTREAM="$4" exec "$0"`, exe}
}

// TestRunBare measures the reference proxy: its requests reach the
// upstream (answers, no X-Semcache verdict), its figures are filled and
// it has no write-back.
func TestRunBare(t *testing.T) {
	rep, err := Run(t.Context(), Options{Semcache: "unused", BareCommand: bareCommand(t), Modes: []string{ModeBare, ModeBareReverseProxy, ModeBareFastClient, ModeBareFastHTTP}, Rounds: 1,
		LatencyRequests: 50, Warmup: 10, Concurrency: 4, ThroughputDuration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sums := rep.Summaries()
	if len(sums) != 4 {
		t.Fatalf("%d rows", len(sums))
	}
	for _, got := range sums {
		if got.Errors != 0 || got.Verdicts["none"] < 50 || len(got.Verdicts) != 1 {
			t.Fatalf("%s: errors %d, verdicts %v: want answers without a verdict", got.Mode, got.Errors, got.Verdicts)
		}
		if got.Throughput <= 0 || got.RSS <= 0 || got.WriteBack != (WriteBack{}) {
			t.Errorf("%s: figures: %+v", got.Mode, got)
		}
	}
	out := printed(t, rep)
	for _, mode := range []string{ModeBare, ModeBareReverseProxy, ModeBareFastClient, ModeBareFastHTTP} {
		row := "| " + modeNames[mode] + " |"
		if !strings.Contains(out, row) {
			t.Errorf("no row %q in the table:\n%s", row, out)
		}
	}
}

// TestRunUpstreamDelay: --upstream-ttft delays the simulated upstream,
// direct and through the proxy, and the report says so.
func TestRunUpstreamDelay(t *testing.T) {
	const delay = 20 * time.Millisecond
	rep, err := Run(t.Context(), Options{Semcache: "unused", BareCommand: bareCommand(t), Modes: []string{ModeBare}, Rounds: 1,
		LatencyRequests: 10, Warmup: 2, Concurrency: 2, ThroughputDuration: 200 * time.Millisecond, UpstreamTTFT: delay})
	if err != nil {
		t.Fatal(err)
	}
	got := rep.Summaries()[0]
	if got.Errors != 0 || got.DirectP50 < delay || got.DirectP50+got.AddedP50 < delay {
		t.Fatalf("direct p50 %v, through the proxy %v, errors %d: want both at least %v", got.DirectP50, got.DirectP50+got.AddedP50, got.Errors, delay)
	}
	out := printed(t, rep)
	if !strings.Contains(out, "simulated upstream answering after 20ms") {
		t.Errorf("the report does not name the delay:\n%s", out)
	}
}

func TestValidateBare(t *testing.T) {
	err := Options{Semcache: "x", Modes: []string{ModeBare}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "bare") {
		t.Fatalf("mode bare without its command: %v", err)
	}
	if err := (Options{Semcache: "x", Modes: []string{ModeBare, "off"}, BareCommand: []string{"x"}}).Validate(); err != nil {
		t.Fatal(err)
	}
}
