package eval

import (
	"strings"
	"testing"
)

func TestParseWriteBack(t *testing.T) {
	tests := []struct {
		name, in string
		want     writeBackCounters
		err      string
	}{
		{"all four", `# HELP semcache_writeback_skipped_total Upstream answers not handed to the write-back.
# TYPE semcache_writeback_skipped_total counter
semcache_writeback_skipped_total{reason="no_store"} 2
semcache_writeback_queued_total 17
semcache_writeback_written_total 15
semcache_writeback_dropped_total{stage="index"} 1
semcache_writeback_dropped_total{stage="queue"} 4
semcache_writeback_backlog{stage="index"} 3
semcache_writeback_backlog{stage="queue"} 1
`, writeBackCounters{stored: 17, written: 15, dropped: 1, queue: 1}, ""},
		{"nothing stored yet", "semcache_writeback_written_total 0\nsemcache_writeback_dropped_total 0\n", writeBackCounters{}, ""},
		{"not semcache", "go_goroutines 12\n", writeBackCounters{}, "no semcache_writeback_"},
		{"bad number", "semcache_writeback_written_total many\n", writeBackCounters{}, "semcache_writeback_written_total"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWriteBack(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseWriteBack = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestNewHTTPBackendValidates(t *testing.T) {
	_, err := NewHTTPBackend(HTTPBackendOptions{Target: "localhost:8080", Admin: ""})
	if err == nil || !strings.Contains(err.Error(), `target URL "localhost:8080"`) || !strings.Contains(err.Error(), `admin URL ""`) {
		t.Errorf("error %v", err)
	}
	b, err := NewHTTPBackend(HTTPBackendOptions{Target: "http://127.0.0.1:8080/v1/", Admin: "http://127.0.0.1:8081"})
	if err != nil || b.chat != "http://127.0.0.1:8080/v1/chat/completions" || b.opts.RunID == "" || b.opts.Model != DefaultModel {
		t.Errorf("backend %+v, %v", b, err)
	}
}
