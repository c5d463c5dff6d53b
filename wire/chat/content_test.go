package chat

import "testing"

// TestContentStarted: the first token is the first chunk with content, a
// refusal or a tool call; role-only and empty chunks are not.
func TestContentStarted(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   bool
	}{
		{"role only", []string{`{"choices":[{"index":0,"delta":{"role":"assistant"}}]}`}, false},
		{"empty content", []string{`{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`}, false},
		{"usage only", []string{`{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`}, false},
		{"content", []string{`{"choices":[{"index":0,"delta":{"role":"assistant"}}]}`, `{"choices":[{"index":0,"delta":{"content":"Hi"}}]}`}, true},
		{"refusal", []string{`{"choices":[{"index":0,"delta":{"refusal":"No"}}]}`}, true},
		{"tool call", []string{`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f"}}]}}]}`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAssembler(true)
			for _, c := range tt.chunks {
				_, _ = a.Write([]byte("data: " + c + "\n\n"))
			}
			if got := a.ContentStarted(); got != tt.want {
				t.Fatalf("ContentStarted = %v, want %v", got, tt.want)
			}
		})
	}
	// A chunk split mid-line counts once its event is complete.
	a := NewAssembler(true)
	_, _ = a.Write([]byte(`data: {"choices":[{"index":0,"delta":{"content":"H`))
	if a.ContentStarted() {
		t.Fatal("started before the event was complete")
	}
	_, _ = a.Write([]byte("i\"}}]}\n\n"))
	if !a.ContentStarted() {
		t.Fatal("not started after the event completed")
	}
}
