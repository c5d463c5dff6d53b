package completions

import "testing"

// TestContentStarted: the first token is the first streamed chunk with
// text.
func TestContentStarted(t *testing.T) {
	tests := []struct {
		name   string
		stream bool
		chunks []string
		want   bool
	}{
		{"empty text", true, []string{`{"choices":[{"index":0,"text":""}]}`}, false},
		{"text", true, []string{`{"choices":[{"index":0,"text":""}]}`, `{"choices":[{"index":0,"text":"Hi"}]}`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Assembler{stream: tt.stream}
			for _, c := range tt.chunks {
				_, _ = a.Write([]byte("data: " + c + "\n\n"))
			}
			if got := a.ContentStarted(); got != tt.want {
				t.Fatalf("ContentStarted = %v, want %v", got, tt.want)
			}
		})
	}
}
