package use

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// cpuMetric reports the process CPU time per op (see processCPU) when the
// platform provides it.
func cpuMetric(b *testing.B, start time.Duration) {
	if start == 0 {
		return
	}
	b.ReportMetric(float64(processCPU()-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// prompt20 is a typical 20-word prompt (26 tokens).
const prompt20 = "Could you please explain in simple terms how a semantic cache decides whether two different prompts mean the same thing?"

// batch16 are 16 typical prompts of 5 to 20 words (17.6 tokens on average).
var batch16 = []string{
	"What is the capital of France?",
	"How do I reset my password if I no longer have access to the email address on my account?",
	"Write a haiku about autumn leaves falling in a quiet park.",
	"Explain the difference between TCP and UDP in simple terms.",
	"Translate 'good morning, how are you today?' into Spanish, French and German.",
	"Summarize the plot of Hamlet in two sentences.",
	"What are the health benefits of drinking green tea every day?",
	"Give me three ideas for a birthday present for a ten year old who loves dinosaurs and space.",
	"How many kilometres are there in a marathon?",
	"Why is the sky blue during the day and red at sunset?",
	"Recommend a good book about the history of mathematics for a curious teenager.",
	"What is the time complexity of quicksort in the worst case, and how can it be avoided?",
	"Convert 72 degrees Fahrenheit to Celsius.",
	"Draft a polite email declining a meeting invitation because of a scheduling conflict next Tuesday afternoon.",
	"Who painted the Mona Lisa?",
	prompt20,
}

func TestBenchmarkInputs(t *testing.T) {
	if n := len(strings.Fields(prompt20)); n != 20 {
		t.Fatalf("prompt20 has %d words, want 20", n)
	}
	if len(batch16) != 16 {
		t.Fatalf("batch16 has %d prompts, want 16", len(batch16))
	}
}

// BenchmarkEmbedSingle20Words embeds one 20-word prompt per op. Run with
// GOMAXPROCS=1 in the environment for the single-core latency target
// (≤ 5 ms): under Go 1.26, -cpu 1 does not reach a b.Loop benchmark's
// body (it still sees every core).
func BenchmarkEmbedSingle20Words(b *testing.B) {
	enc := testEncoder(b)
	ctx := context.Background()
	in := []string{prompt20}
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if _, err := enc.Embed(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	cpuMetric(b, cpu)
}

// BenchmarkEmbedBatch16 embeds 16 prompts per op and reports sentences/s.
func BenchmarkEmbedBatch16(b *testing.B) {
	enc := testEncoder(b)
	ctx := context.Background()
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if _, err := enc.Embed(ctx, batch16); err != nil {
			b.Fatal(err)
		}
	}
	cpuMetric(b, cpu)
	b.ReportMetric(float64(b.N*len(batch16))/b.Elapsed().Seconds(), "sentences/s")
}

// BenchmarkEmbedBatch16Words20 embeds the 20-word prompt 16 times per op
// (one batched pass per core): the per-text cost the Batcher reaches at
// high concurrency, for the prompt of the 1,000 misses/s target.
func BenchmarkEmbedBatch16Words20(b *testing.B) {
	enc := testEncoder(b)
	ctx := context.Background()
	texts := make([]string, 16)
	for i := range texts {
		texts[i] = prompt20
	}
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if _, err := enc.Embed(ctx, texts); err != nil {
			b.Fatal(err)
		}
	}
	cpuMetric(b, cpu)
	b.ReportMetric(float64(b.N*len(texts))/b.Elapsed().Seconds(), "sentences/s")
}

// BenchmarkEmbedLong128 embeds one prompt clipped to the full 128 tokens.
func BenchmarkEmbedLong128(b *testing.B) {
	enc := testEncoder(b)
	ctx := context.Background()
	in := []string{strings.Repeat("the quick brown fox jumps over the lazy dog ", 20)}
	var lt lattice
	if n := len(enc.tok.encode(in[0], &lt)); n < maxTokens {
		b.Fatalf("long prompt has %d tokens, want ≥ %d", n, maxTokens)
	}
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if _, err := enc.Embed(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	cpuMetric(b, cpu)
}

// BenchmarkTokenize measures the tokenizer alone on the 20-word prompt.
func BenchmarkTokenize(b *testing.B) {
	enc := testEncoder(b)
	var lt lattice
	b.ReportAllocs()
	for b.Loop() {
		enc.tok.encode(prompt20, &lt)
	}
}

// BenchmarkLoad loads the model and reports the live heap it holds
// (heap-MiB, measured after a GC).
func BenchmarkLoad(b *testing.B) {
	dir := testModelDir(b)
	var heap float64
	for b.Loop() {
		h, err := loadedHeap(dir)
		if err != nil {
			b.Fatal(err)
		}
		heap = h
	}
	b.ReportMetric(heap/(1<<20), "heap-MiB")
}

// loadedHeap returns the bytes of live heap an Encoder holds after Load
// and one Embed (which allocates a workspace).
func loadedHeap(dir string) (float64, error) {
	var before, after runtime.MemStats
	// Two collections: the first moves sync.Pool contents (other tests'
	// workspaces, up to ~10 MiB each) to the victim cache, the second
	// frees them, so they are not freed between the two readings.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	enc, err := Load(dir)
	if err != nil {
		return 0, err
	}
	if _, err := enc.Embed(context.Background(), []string{prompt20}); err != nil {
		return 0, err
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(enc)
	return float64(after.HeapAlloc) - float64(before.HeapAlloc), nil
}

// TestMemoryFootprint logs the heap held by a loaded Encoder: the weights
// (27.9 MB of float32) plus the tokenizer maps and one workspace.
func TestMemoryFootprint(t *testing.T) {
	dir := testModelDir(t)
	heap, err := loadedHeap(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("heap held by a loaded Encoder: %.1f MiB", heap/(1<<20))
	if heap < shardBytes*0.9 || heap > 48<<20 {
		t.Errorf("heap after Load = %.1f MiB, want between the weights' size and 48 MiB", heap/(1<<20))
	}
}

// BenchmarkEmbedHuge8MiB embeds an 8 MiB prompt of repeated words: only
// the prefix its first 128 tokens need is tokenized.
func BenchmarkEmbedHuge8MiB(b *testing.B) {
	enc := testEncoder(b)
	ctx := context.Background()
	in := []string{strings.Repeat("the quick brown fox jumps over the lazy dog ", (8<<20)/44)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enc.Embed(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
