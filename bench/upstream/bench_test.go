package upstream

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkChat measures the simulator's own cost per chat completion (no
// simulated latency), so it stays negligible next to the proxy under test.
func BenchmarkChat(b *testing.B) {
	sim := New(Options{})
	for _, tt := range []struct {
		name string
		body string
	}{
		{"json", `{"model":"sim-gpt","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"How do I reverse a list in Go?"}]}`},
		{"sse", `{"model":"sim-gpt","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"How do I reverse a list in Go?"}]}`},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, PathChat, strings.NewReader(tt.body))
				rec := httptest.NewRecorder()
				sim.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkResponses is BenchmarkChat for POST /v1/responses.
func BenchmarkResponses(b *testing.B) {
	sim := New(Options{})
	for _, tt := range []struct {
		name string
		body string
	}{
		{"json", `{"model":"sim-gpt","instructions":"Be brief.","input":"How do I reverse a list in Go?"}`},
		{"sse", `{"model":"sim-gpt","stream":true,"instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"How do I reverse a list in Go?"}]}]}`},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, PathResponses, strings.NewReader(tt.body))
				rec := httptest.NewRecorder()
				sim.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

func BenchmarkEmbeddings(b *testing.B) {
	sim := New(Options{})
	body := `{"model":"sim-embedding","input":["How do I reverse a list in Go?","Best pizza toppings for a party"],"encoding_format":"base64"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, PathEmbeddings, strings.NewReader(body))
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
