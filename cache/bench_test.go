package cache

import (
	"context"
	"strings"
	"testing"
)

func BenchmarkExactLookup(b *testing.B) {
	c, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	l := Lookup{Namespace: "ns", Endpoint: "chat", Model: "m", Key: []byte(strings.Repeat("canonical request ", 60))}
	c.Put(l, Answer{Endpoint: "chat", Model: "m", Text: strings.Repeat("word ", 200)}, nil, 0, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Get(ctx, l); res.Tier != TierExact {
			b.Fatal("miss")
		}
	}
}
