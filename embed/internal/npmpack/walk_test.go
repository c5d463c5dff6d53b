package npmpack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type tarFile struct {
	name string
	body string
	dir  bool
}

func writeTGZ(t *testing.T, files []tarFile) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if f.dir {
			hdr = &tar.Header{Name: f.name, Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "p.tgz")
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestWalk(t *testing.T) {
	files := []tarFile{
		{name: "package/", dir: true},
		{name: "package/LICENSE", body: "licence text"},
		{name: "./package/data/../data.bin", body: "payload"},
		{name: "package/other.txt", body: "x"},
	}
	tests := []struct {
		name      string
		files     []tarFile
		maxNotice int64
		cancel    bool
		wantErr   string
		wantSeen  string // the files Visit saw, comma-joined, with their bodies
	}{
		{name: "notices copied, the rest visited with clean names", files: files, maxNotice: 64,
			wantSeen: "package/data.bin=payload,package/other.txt=x"},
		{name: "notice over its bound", files: files, maxNotice: 4, wantErr: "too large"},
		{name: "context ended", files: files, maxNotice: 64, cancel: true, wantErr: "context canceled"},
		{name: "not a gzip file", files: nil, maxNotice: 64, wantErr: "p.tgz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tgz := writeTGZ(t, tt.files)
			if tt.files == nil {
				if err := os.WriteFile(tgz, []byte("plain"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			dir := t.TempDir()
			var seen []string
			err := Walk(ctx, tgz, Files{Notices: map[string]string{"package/LICENSE": "LICENSE.pkg"}, NoticeDir: dir, MaxNotice: tt.maxNotice,
				Visit: func(name string, size int64, r io.Reader) error {
					b, err := io.ReadAll(r)
					if err != nil {
						return err
					}
					if int64(len(b)) != size {
						t.Errorf("%s: size %d, read %d", name, size, len(b))
					}
					seen = append(seen, name+"="+string(b))
					return nil
				}})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Walk = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(seen, ","); got != tt.wantSeen {
				t.Errorf("visited %q, want %q", got, tt.wantSeen)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "LICENSE.pkg")); err != nil || string(b) != "licence text" {
				t.Errorf("notice: %q, %v", b, err)
			}
		})
	}
}
