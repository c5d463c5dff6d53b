package embed_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/semcache/semcache/embed"
	"github.com/semcache/semcache/embed/lexical"
)

// Example_compose wraps an in-process embedder the way the service does:
// clip long texts first (once per request, so the cache keys the clipped
// text and an 8 MiB prompt is hashed and embedded as 4 Ki runes), then the
// vector cache (hits never wait for a slot), then a bound on concurrent
// work. For embed/use, put embed.NewBatcher where NewLimited is: its
// Workers and MaxQueue bound the work, and it batches the misses.
func Example_compose() {
	enc, err := lexical.New(lexical.Options{})
	if err != nil {
		panic(err)
	}
	limited, err := embed.NewLimited(enc, embed.LimitOptions{}) // GOMAXPROCS slots
	if err != nil {
		panic(err)
	}
	cached := embed.NewCached(limited, embed.CacheOptions{})
	bounded, err := embed.NewBounded(cached, embed.BoundOptions{
		OnClip: func(ctx context.Context, textBytes int) { /* count a metric */ },
	})
	if err != nil {
		panic(err)
	}
	huge := strings.Repeat("lorem ipsum dolor sit amet ", 300_000) + "what does lorem ipsum mean?"
	vecs, err := bounded.Embed(context.Background(), []string{"what is a semantic cache?", huge})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(vecs), len(vecs[0]), bounded.Clipped())
	// Output: 2 512 1
}
