package proxy

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/semcache/semcache/bench/upstream"
)

// TestOpenAIGoEmbeddings drives /v1/embeddings with the official Go SDK:
// a batch is cached per input, a batch with some new inputs asks upstream
// for those only, and every reply has the vectors an uncached call gives,
// in order, in the encoding asked for.
func TestOpenAIGoEmbeddings(t *testing.T) {
	h := newHarness(t)
	var last *http.Response
	client := oai.NewClient(option.WithBaseURL(h.baseURL), option.WithAPIKey("sk-go"), option.WithMaxRetries(0),
		option.WithResponseInto(&last))
	direct := oai.NewClient(option.WithBaseURL(h.upSrv.URL+"/v1"), option.WithAPIKey("sk-go"), option.WithMaxRetries(0))
	ctx := t.Context()
	embed := func(c oai.Client, format oai.EmbeddingNewParamsEncodingFormat, inputs ...string) *oai.CreateEmbeddingResponse {
		t.Helper()
		params := oai.EmbeddingNewParams{Model: "sim-embedding", Input: oai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: inputs}}
		if len(inputs) == 1 {
			params.Input = oai.EmbeddingNewParamsInputUnion{OfString: oai.String(inputs[0])}
		}
		if format != "" {
			params.EncodingFormat = format
		}
		resp, err := c.Embeddings.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// The vectors an uncached call gives, straight from the upstream.
	want := map[string][]float64{}
	all := []string{"alpha", "bravo", "charlie", "xray", "yankee", "single input"}
	for i, d := range embed(direct, "", all...).Data {
		want[all[i]] = d.Embedding
	}
	calls := h.up.Calls(upstream.PathEmbeddings)
	check := func(name string, resp *oai.CreateEmbeddingResponse, header string, inputs ...string) {
		t.Helper()
		if got := last.Header.Get("X-Semcache"); got != header {
			t.Fatalf("%s: X-Semcache = %q, want %q", name, got, header)
		}
		if len(resp.Data) != len(inputs) {
			t.Fatalf("%s: %d embeddings for %d inputs", name, len(resp.Data), len(inputs))
		}
		for i, d := range resp.Data {
			if d.Index != int64(i) || !sameVector(vectorOf(t, d), want[inputs[i]]) {
				t.Fatalf("%s: embedding %d (index %d) is not the one of %q", name, i, d.Index, inputs[i])
			}
		}
	}

	check("batch, miss", embed(client, "", "alpha", "bravo", "charlie"), "miss", "alpha", "bravo", "charlie")
	first := embed(client, "", "alpha", "bravo", "charlie")
	check("batch, hit", first, "hit-exact", "alpha", "bravo", "charlie")
	if n := h.up.Calls(upstream.PathEmbeddings) - calls; n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}

	mixed := embed(client, oai.EmbeddingNewParamsEncodingFormatBase64, "xray", "alpha", "yankee", "charlie")
	check("partial hit, base64", mixed, "hit-partial", "xray", "alpha", "yankee", "charlie")
	if got := last.Header.Get("X-Semcache-Hits"); got != "2/4" {
		t.Fatalf("X-Semcache-Hits = %q", got)
	}
	var sent struct {
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
	}
	_ = json.Unmarshal(h.up.LastRequestTo(upstream.PathEmbeddings), &sent)
	if !slices.Equal(sent.Input, []string{"xray", "yankee"}) || sent.EncodingFormat != "base64" {
		t.Fatalf("upstream was asked for %v (%s), want the two new inputs", sent.Input, sent.EncodingFormat)
	}
	// Usage is what the uncached call reports: the simulator counts words.
	if mixed.Usage.PromptTokens != 4 || mixed.Usage.TotalTokens != 4 {
		t.Fatalf("usage %+v, want 4 prompt tokens", mixed.Usage)
	}

	check("single string, miss", embed(client, "", "single input"), "miss", "single input")
	check("single string, hit, base64", embed(client, oai.EmbeddingNewParamsEncodingFormatBase64, "single input"), "hit-exact", "single input")
	if n := h.up.Calls(upstream.PathEmbeddings) - calls; n != 3 {
		t.Fatalf("upstream calls = %d, want 3", n)
	}

	// A batch of 100 with 97 cached: one upstream call for the other 3.
	var batch []string
	for i := range 100 {
		batch = append(batch, fmt.Sprintf("document %d about caching", i))
	}
	warmup := append(slices.Clone(batch[:50]), batch[53:]...)
	embed(client, "", warmup...)
	before := h.up.Calls(upstream.PathEmbeddings)
	resp := embed(client, "", batch...)
	if last.Header.Get("X-Semcache") != "hit-partial" || last.Header.Get("X-Semcache-Hits") != "97/100" || len(resp.Data) != 100 {
		t.Fatalf("batch of 100: %q %q, %d embeddings", last.Header.Get("X-Semcache"), last.Header.Get("X-Semcache-Hits"), len(resp.Data))
	}
	_ = json.Unmarshal(h.up.LastRequestTo(upstream.PathEmbeddings), &sent)
	if h.up.Calls(upstream.PathEmbeddings)-before != 1 || !slices.Equal(sent.Input, batch[50:53]) {
		t.Fatalf("upstream asked %d times for %v", h.up.Calls(upstream.PathEmbeddings)-before, sent.Input)
	}
	for i, d := range resp.Data {
		if d.Index != int64(i) || len(d.Embedding) == 0 {
			t.Fatalf("embedding %d out of order", i)
		}
	}
	ref := embed(direct, "", batch[51])
	if !sameVector(resp.Data[51].Embedding, ref.Data[0].Embedding) {
		t.Fatal("a fetched input of the batch has the wrong vector")
	}
}

// vectorOf returns an embedding's vector; openai-go leaves base64 vectors
// undecoded (little-endian float32s, as the Node client decodes them).
func vectorOf(t *testing.T, d oai.Embedding) []float64 {
	t.Helper()
	if len(d.Embedding) > 0 {
		return d.Embedding
	}
	var s string
	if err := json.Unmarshal([]byte(d.JSON.Embedding.Raw()), &s); err != nil {
		t.Fatalf("embedding is neither floats nor base64: %s", d.JSON.Embedding.Raw())
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%4 != 0 {
		t.Fatalf("bad base64 vector: %v", err)
	}
	v := make([]float64, len(b)/4)
	for i := range v {
		v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return v
}

// sameVector compares vectors at float32 precision, the precision
// embeddings have (a float array and base64 spell them differently).
func sameVector(a, b []float64) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if float32(a[i]) != float32(b[i]) {
			return false
		}
	}
	return true
}
