package rag

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func adminServer(t *testing.T, token string) (*env, *httptest.Server) {
	t.Helper()
	e := newEnv(t, Options{Purger: &fakePurger{}, MaxDocBytes: 4096})
	mux := http.NewServeMux()
	e.svc.Register(mux, AdminOptions{Token: token})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return e, srv
}

func multipartBody(t *testing.T, files map[string]string) (string, *bytes.Buffer) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for name, content := range files {
		fw, err := w.CreateFormFile("file", name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, content)
	}
	w.Close()
	return w.FormDataContentType(), &b
}

func TestAdminPost(t *testing.T) {
	_, srv := adminServer(t, "tok")
	mpType, mpBody := multipartBody(t, map[string]string{"a.md": "# A\n\nalpha", "b.jsonl": "{\"id\":\"b1\",\"content\":\"beta\"}\n{\"id\":\"b2\",\"content\":\" \"}"})
	tests := []struct {
		name        string
		path        string
		contentType string
		body        io.Reader
		wantStatus  int
		wantCounts  [3]int // ingested, unchanged, failed
	}{
		{"one JSON document", "/admin/rag/handbook/documents", "application/json",
			strings.NewReader(`{"id":"x","title":"X","content":"some text","format":"md"}`), 200, [3]int{1, 0, 0}},
		{"same again is unchanged", "/admin/rag/handbook/documents", "application/json",
			strings.NewReader(`[{"id":"x","title":"X","content":"some text","format":"md"}]`), 200, [3]int{0, 1, 0}},
		{"wrapped list with a failure", "/admin/rag/handbook/documents", "application/json",
			strings.NewReader(`{"documents":[{"id":"y","content":"y text"},{"id":"z","content":""}]}`), 200, [3]int{1, 0, 1}},
		{"raw body", "/admin/rag/handbook/documents?id=r.html&title=R", "text/html",
			strings.NewReader(`<p>raw html</p>`), 200, [3]int{1, 0, 0}},
		{"multipart files", "/admin/rag/handbook/documents", mpType, mpBody, 200, [3]int{2, 0, 1}},
		{"oversize document", "/admin/rag/handbook/documents", "application/json",
			strings.NewReader(`{"id":"big","content":"` + strings.Repeat("x", 5000) + `"}`), 200, [3]int{0, 0, 1}},
		{"raw without id", "/admin/rag/handbook/documents", "text/plain", strings.NewReader("x"), 400, [3]int{}},
		{"bad JSON", "/admin/rag/handbook/documents", "application/json", strings.NewReader("{"), 400, [3]int{}},
		{"unknown collection", "/admin/rag/nope/documents", "application/json", strings.NewReader(`{"id":"x","content":"x"}`), 404, [3]int{}},
		{"body over the limit", "/admin/rag/handbook/documents?id=big.txt", "text/plain", strings.NewReader(strings.Repeat("x", 5*4096)), 413, [3]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tt.path, tt.body)
			req.Header.Set("Content-Type", tt.contentType)
			req.Header.Set("Authorization", "Bearer tok")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
			}
			if tt.wantStatus != 200 {
				if !strings.Contains(string(b), `"error"`) {
					t.Fatalf("no error message: %s", b)
				}
				return
			}
			var ir IngestResponse
			if err := json.Unmarshal(b, &ir); err != nil {
				t.Fatal(err)
			}
			if got := [3]int{ir.Ingested, ir.Unchanged, ir.Failed}; got != tt.wantCounts {
				t.Fatalf("counts %v, want %v: %s", got, tt.wantCounts, b)
			}
		})
	}
}

func TestAdminStatsDeleteAndToken(t *testing.T) {
	_, srv := adminServer(t, "s3cret")
	ctx := context.Background()
	c := &Client{BaseURL: srv.URL, Token: "s3cret"}
	if _, err := c.Ingest(ctx, "handbook", []Document{{ID: "dir/doc.md", Content: "# D\n\nbody"}}); err != nil {
		t.Fatal(err)
	}
	st, err := c.Stats(ctx, "handbook")
	if err != nil || st.Documents != 1 || st.Chunks != 1 || st.Version == "" {
		t.Fatalf("stats %+v, %v", st, err)
	}
	res, err := c.Delete(ctx, "handbook", "dir/doc.md")
	if err != nil || res.Status != StatusDeleted {
		t.Fatalf("delete %+v, %v", res, err)
	}
	if _, err := c.Delete(ctx, "handbook", "dir/doc.md"); !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("second delete: %v", err)
	}
	bad := &Client{BaseURL: srv.URL, Token: "wrong"}
	if _, err := bad.Stats(ctx, "handbook"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	resp, err := http.Get(srv.URL + "/admin/rag")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
}

// TestAdminNeedsToken: documents go into prompts, so without a configured
// admin token the RAG admin API is refused.
func TestAdminNeedsToken(t *testing.T) {
	_, srv := adminServer(t, "")
	resp, err := http.Post(srv.URL+"/admin/rag/handbook/documents", "application/json", strings.NewReader(`{"id":"x","content":"planted"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "admin_token_required") {
		t.Fatalf("no token configured: %d %s", resp.StatusCode, b)
	}
}
