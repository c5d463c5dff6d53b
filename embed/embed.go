// Package embed turns text into vectors for the similarity tier and for RAG
// retrieval. Subpackages hold the implementations: lexical (weight-free
// feature hashing, the zero-dependency default), openai (any
// OpenAI-compatible /v1/embeddings endpoint) and use (Universal Sentence
// Encoder lite, in process). This package also holds wrappers that compose
// around any of them, each an Embedder itself:
//
//   - Cached: an LRU of vectors by text, coalescing concurrent misses;
//   - Bounded: clips long texts (Clip) so no request embeds more than a
//     bounded head and tail;
//   - Limited: a semaphore on concurrent inner calls, with deadline-bounded
//     waits that fail with ErrOverloaded;
//   - Batcher: gathers concurrent calls into batched inner calls, for
//     encoders that embed a batch faster than its texts one by one.
//
// The service composes them as Bounded → Cached → Batcher → use.Encoder,
// or Bounded → Cached → Limited → lexical.Embedder (Example_compose).
//
// Consumers (cache/, rag/) declare the subset they need; Embedder here is the
// full contract every implementation satisfies.
package embed

import (
	"context"
	"errors"
)

// Embedder turns texts into L2-normalised vectors of a fixed dimension.
type Embedder interface {
	// Embed returns one vector per text, in order. Every vector has
	// Dimension() elements and unit L2 norm.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Dimension is the length of every vector Embed returns.
	Dimension() int
	// ModelID names the model and its settings stably: two embedders with the
	// same ModelID produce comparable vectors. Stores key their collections on
	// it so vectors of different models never mix.
	ModelID() string
}

// ErrEmbed is wrapped by errors an embedder returns when it could not
// produce vectors (the backend failed, timed out, or returned junk).
var ErrEmbed = errors.New("embed: embedding failed")
