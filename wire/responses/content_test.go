package responses

import "testing"

// TestContentStarted: the first token is the first delta of output text,
// a refusal or tool arguments; response.created and the added events
// before it are not.
func TestContentStarted(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		want   bool
	}{
		{"created only", []string{`{"type":"response.created","response":{"id":"r"}}`, `{"type":"response.output_item.added"}`}, false},
		{"text delta", []string{`{"type":"response.created","response":{"id":"r"}}`, `{"type":"response.output_text.delta","delta":"Hi"}`}, true},
		{"refusal delta", []string{`{"type":"response.refusal.delta","delta":"No"}`}, true},
		{"tool arguments", []string{`{"type":"response.function_call_arguments.delta","delta":"{"}`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAssembler(true)
			for _, e := range tt.events {
				_, _ = a.Write([]byte("data: " + e + "\n\n"))
			}
			if got := a.ContentStarted(); got != tt.want {
				t.Fatalf("ContentStarted = %v, want %v", got, tt.want)
			}
		})
	}
}
