package upstream

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	goopenai "github.com/sashabaranov/go-openai"
)

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestEmbeddings(t *testing.T) {
	sim, base := newTestServer(t, Options{})
	c := goOpenAIClient(base)
	texts := []string{
		"How do I reverse a list in Go?",
		"how do i reverse a list in go",
		"Please: how do I reverse a list in Go?",
		"Best pizza toppings for a party",
	}
	for _, format := range []goopenai.EmbeddingEncodingFormat{goopenai.EmbeddingEncodingFormatFloat, goopenai.EmbeddingEncodingFormatBase64} {
		t.Run(string(format), func(t *testing.T) {
			resp, err := c.CreateEmbeddings(t.Context(), goopenai.EmbeddingRequestStrings{
				Input: texts, Model: "sim-embedding", EncodingFormat: format,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Data) != len(texts) || resp.Model != "sim-embedding" || resp.Object != "list" {
				t.Fatalf("response %d items model %q object %q", len(resp.Data), resp.Model, resp.Object)
			}
			vecs := make([][]float32, len(resp.Data))
			for i, d := range resp.Data {
				if d.Index != i || len(d.Embedding) != defaultEmbeddingDim {
					t.Fatalf("item %d: index %d len %d", i, d.Index, len(d.Embedding))
				}
				if n := math.Sqrt(dot(d.Embedding, d.Embedding)); math.Abs(n-1) > 1e-4 {
					t.Errorf("item %d norm %v", i, n)
				}
				vecs[i] = d.Embedding
			}
			if got := dot(vecs[0], vecs[1]); got < 0.9999 {
				t.Errorf("case/punctuation change: similarity %v, want 1", got)
			}
			paraphrase, unrelated := dot(vecs[0], vecs[2]), dot(vecs[0], vecs[3])
			if paraphrase < 0.8 || paraphrase <= unrelated+0.3 {
				t.Errorf("paraphrase similarity %v, unrelated %v", paraphrase, unrelated)
			}
			wantTokens := 0
			for _, s := range texts {
				wantTokens += len(strings.Fields(s))
			}
			if resp.Usage.PromptTokens != wantTokens || resp.Usage.TotalTokens != wantTokens {
				t.Errorf("usage %+v, want %d", resp.Usage, wantTokens)
			}
		})
	}

	// The same text always gives the same vector, across calls and formats.
	one := func(format goopenai.EmbeddingEncodingFormat) []float32 {
		resp, err := c.CreateEmbeddings(t.Context(), goopenai.EmbeddingRequest{Input: texts[0], Model: "e", EncodingFormat: format})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Data[0].Embedding
	}
	a, b := one(goopenai.EmbeddingEncodingFormatFloat), one(goopenai.EmbeddingEncodingFormatBase64)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("float and base64 encodings of the same text differ")
	}
	if sim.Calls(PathEmbeddings) != 4 {
		t.Errorf("Calls(embeddings) = %d, want 4", sim.Calls(PathEmbeddings))
	}
}

func TestEmbeddingDimensions(t *testing.T) {
	_, base := newTestServer(t, Options{EmbeddingDim: 64})
	c := goOpenAIClient(base)
	full, err := c.CreateEmbeddings(t.Context(), goopenai.EmbeddingRequest{Input: "alpha beta", Model: "e"})
	if err != nil {
		t.Fatal(err)
	}
	short, err := c.CreateEmbeddings(t.Context(), goopenai.EmbeddingRequest{Input: "alpha beta", Model: "e", Dimensions: 16})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Data[0].Embedding) != 64 || len(short.Data[0].Embedding) != 16 {
		t.Fatalf("lengths %d and %d, want 64 and 16", len(full.Data[0].Embedding), len(short.Data[0].Embedding))
	}
	// The short vector is the renormalised prefix of the long one.
	prefix := full.Data[0].Embedding[:16]
	n := math.Sqrt(dot(prefix, prefix))
	for i, v := range short.Data[0].Embedding {
		if math.Abs(float64(v)-float64(prefix[i])/n) > 1e-5 {
			t.Fatalf("component %d: %v, want %v", i, v, float64(prefix[i])/n)
		}
	}
}

func TestEmbeddingBadRequests(t *testing.T) {
	_, base := newTestServer(t, Options{EmbeddingDim: 32})
	tests := []struct {
		name, body, param string
	}{
		{"token array", `{"model":"e","input":[1,2,3]}`, "input"},
		{"token arrays", `{"model":"e","input":[[1,2],[3]]}`, "input"},
		{"missing input", `{"model":"e"}`, "input"},
		{"empty string", `{"model":"e","input":""}`, "input"},
		{"empty array", `{"model":"e","input":[]}`, "input"},
		{"missing model", `{"input":"x"}`, "model"},
		{"bad format", `{"model":"e","input":"x","encoding_format":"int8"}`, "encoding_format"},
		{"too many dimensions", `{"model":"e","input":"x","dimensions":33}`, "dimensions"},
		{"malformed", `{"model":"e",`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body apiError
			status := postJSON(t, base+"/embeddings", tt.body, &body)
			param := ""
			if body.Error.Param != nil {
				param = *body.Error.Param
			}
			if status != 400 || body.Error.Type != "invalid_request_error" || param != tt.param {
				t.Errorf("status %d error %+v param %q, want 400 param %q", status, body.Error, param, tt.param)
			}
		})
	}
}

func BenchmarkEmbedText(b *testing.B) {
	for b.Loop() {
		embedText("How do I reverse a list in Go without allocating a new slice?", defaultEmbeddingDim)
	}
}
