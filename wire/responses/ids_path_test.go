package responses

import "testing"

func TestUpstreamPath(t *testing.T) {
	stored := mint("resp_abc123", true)
	unstored := mint("resp_abc123", false)
	tests := []struct {
		name, path, want string
		changed          bool
	}{
		{"retrieve a stored hit", Path + "/" + stored, Path + "/resp_abc123", true},
		{"its input items", Path + "/" + stored + "/input_items", Path + "/resp_abc123/input_items", true},
		{"a hit never stored upstream", Path + "/" + unstored, Path + "/" + unstored, false},
		{"an upstream id", Path + "/resp_abc123", Path + "/resp_abc123", false},
		{"the create path", Path, Path, false},
		{"another API", "/v1/chat/completions/" + stored, "/v1/chat/completions/" + stored, false},
		{"a forged mark", Path + "/resp_scnothex0000000000_x", Path + "/resp_scnothex0000000000_x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := UpstreamPath(tt.path)
			if got != tt.want || changed != tt.changed {
				t.Errorf("UpstreamPath(%q) = %q, %v; want %q, %v", tt.path, got, changed, tt.want, tt.changed)
			}
		})
	}
}
