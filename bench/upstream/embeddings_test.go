package upstream

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
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

// TestEmbeddingBatches checks a batch in both encodings and with
// dimensions: one item per input, in order, with its own index, and the
// base64 vectors decode to the float ones.
func TestEmbeddingBatches(t *testing.T) {
	_, base := newTestServer(t, Options{EmbeddingDim: 64})
	inputs := []string{"alpha beta", "gamma", "alpha beta", "delta epsilon zeta"}
	type item struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	}
	type response struct {
		Object string `json:"object"`
		Data   []item `json:"data"`
		Usage  struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	decode := func(t *testing.T, format string, raw json.RawMessage) []float32 {
		t.Helper()
		if format == "float" {
			var v []float32
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("base64 embedding is not a JSON string: %s", raw)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b)%4 != 0 {
			t.Fatalf("base64 %q: %v", s, err)
		}
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v
	}
	inputJSON, _ := json.Marshal(inputs)
	vectors := map[string][][]float32{}
	for _, dims := range []int{0, 16} {
		for _, format := range []string{"float", "base64"} {
			name := fmt.Sprintf("%s dims=%d", format, dims)
			t.Run(name, func(t *testing.T) {
				body := fmt.Sprintf(`{"model":"e","input":%s,"encoding_format":%q`, inputJSON, format)
				if dims > 0 {
					body += fmt.Sprintf(`,"dimensions":%d`, dims)
				}
				var resp response
				if status := postJSON(t, base+"/embeddings", body+"}", &resp); status != 200 {
					t.Fatalf("status %d", status)
				}
				if resp.Object != "list" || len(resp.Data) != len(inputs) || resp.Usage.PromptTokens != 8 || resp.Usage.TotalTokens != 8 {
					t.Fatalf("response %+v", resp)
				}
				wantDim := 64
				if dims > 0 {
					wantDim = dims
				}
				var got [][]float32
				for i, d := range resp.Data {
					v := decode(t, format, d.Embedding)
					if d.Index != i || d.Object != "embedding" || len(v) != wantDim {
						t.Fatalf("item %d: index %d object %q len %d", i, d.Index, d.Object, len(v))
					}
					got = append(got, v)
				}
				if fmt.Sprint(got[0]) != fmt.Sprint(got[2]) || fmt.Sprint(got[0]) == fmt.Sprint(got[1]) {
					t.Error("equal inputs must give equal vectors, different ones different vectors")
				}
				vectors[name] = got
			})
		}
		f, b := vectors[fmt.Sprintf("float dims=%d", dims)], vectors[fmt.Sprintf("base64 dims=%d", dims)]
		if fmt.Sprint(f) != fmt.Sprint(b) {
			t.Errorf("dims=%d: float and base64 batches differ", dims)
		}
	}

	// The official client sends the batch and reads the float answer.
	off := officialClient(base)
	resp, err := off.Embeddings.New(t.Context(), oai.EmbeddingNewParams{
		Model: "e", Input: oai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs}, Dimensions: oai.Int(16),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range resp.Data {
		if d.Index != int64(i) || len(d.Embedding) != 16 || float32(d.Embedding[0]) != vectors["float dims=16"][i][0] {
			t.Errorf("openai-go item %d: index %d len %d", i, d.Index, len(d.Embedding))
		}
	}
}
