package rag

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	tests := []struct {
		name      string
		doc       Document
		wantTitle string
		has       []string
		hasNot    []string
	}{
		{
			"markdown front matter and heading",
			Document{ID: "guide.md", Content: "---\ntitle: \"The Guide\"\nauthor: x\n---\n# Heading One\n\nBody."},
			"The Guide", []string{"# Heading One", "Body."}, []string{"author"},
		},
		{
			"markdown title from first heading",
			Document{ID: "g.markdown", Content: "Intro\n\n#  First  Heading ##\n\ntext"},
			"First Heading", []string{"Intro"}, nil,
		},
		{
			"text title from the source name",
			Document{ID: "x", Source: "notes/meeting-2024.txt", Content: "We met."},
			"meeting-2024", []string{"We met."}, nil,
		},
		{
			"explicit title wins",
			Document{ID: "a.md", Title: "Mine", Content: "# Theirs\n\nx"},
			"Mine", nil, nil,
		},
		{
			"html",
			Document{ID: "page.html", Content: `<html><head><title> Page  Title </title><style>p{}</style></head>
<body><nav>Home | About</nav><h1>Main</h1><p>First   para
graph.</p><script>alert(1)</script><h2>Sub <em>part</em></h2><ul><li>one</li><li>two</li></ul>
<pre>code  kept
  indented</pre><p>a<br>b</p></body></html>`},
			"Page Title",
			[]string{"# Main\n\nFirst para graph.", "## Sub part", "- one", "- two", "code  kept\n  indented", "a\nb"},
			[]string{"alert", "Home | About", "p{}"},
		},
		{
			"html title falls back to h1",
			Document{ID: "x", Format: "htm", Content: "<h1>Only H1</h1><p>x</p>"},
			"Only H1", nil, nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := extract(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			if e.title != tt.wantTitle {
				t.Errorf("title %q, want %q", e.title, tt.wantTitle)
			}
			for _, s := range tt.has {
				if !strings.Contains(e.text, s) {
					t.Errorf("text lacks %q:\n%s", s, e.text)
				}
			}
			for _, s := range tt.hasNot {
				if strings.Contains(e.text, s) {
					t.Errorf("text has %q:\n%s", s, e.text)
				}
			}
		})
	}
}

func TestParseJSON(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantIDs []string
		wantErr error
	}{
		{"lines", "{\"id\":\"a\",\"content\":\"x\"}\n\n{\"text\":\"y\",\"url\":\"https://e/y\"}\n", []string{"a", "f.jsonl#2"}, nil},
		{"array", `[{"id":"a","content":"x"},{"id":"b","content":"y"}]`, []string{"a", "b"}, nil},
		{"single object", `{"id":"a","content":"x"}`, []string{"a"}, nil},
		{"broken line", "{\"id\":\"a\",\"content\":\"x\"}\n{oops}\n", nil, ErrInvalid},
		{"not objects", `["a"]`, nil, ErrInvalid},
		{"bad format", `{"id":"a","content":"x","format":"pdf"}`, nil, ErrInvalid},
		{"empty", "\n \n", nil, ErrEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Parse("json", "f.jsonl", "f.jsonl", []byte(tt.data))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			var ids []string
			for _, d := range docs {
				ids = append(ids, d.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tt.wantIDs, ",") {
				t.Fatalf("ids %v, want %v", ids, tt.wantIDs)
			}
			if tt.name == "lines" && docs[1].Source != "https://e/y" {
				t.Fatalf("url not used as source: %+v", docs[1])
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := write("ok.md", "# Hi\n\ntext")
	big := write("big.txt", strings.Repeat("x", 200))
	pdf := write("paper.pdf", "%PDF")
	unreadable := write("secret.txt", "x")
	mdDir := filepath.Join(dir, "folder.md")
	if err := os.Mkdir(mdDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"ok", ok, nil},
		{"oversize", big, ErrTooLarge},
		{"unsupported", pdf, ErrUnsupported},
		{"missing", filepath.Join(dir, "none.md"), os.ErrNotExist},
		{"directory", mdDir, ErrInvalid},
	}
	if os.Getuid() != 0 && runtime.GOOS != "windows" {
		tests = append(tests, struct {
			name string
			path string
			want error
		}{"unreadable", unreadable, os.ErrPermission})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := LoadFile(tt.path, "id", 100)
			if !errors.Is(err, tt.want) {
				t.Fatalf("LoadFile(%s) err = %v, want %v", tt.path, err, tt.want)
			}
			if tt.want == nil && (len(docs) != 1 || docs[0].Format != Markdown || docs[0].ID != "id") {
				t.Fatalf("docs %+v", docs)
			}
		})
	}
}
