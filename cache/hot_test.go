package cache

import (
	"context"
	"fmt"
	"testing"
)

// TestHotEvictionsCountTheBudgetOnly: entries pushed out by the hot
// tier's memory budget are evictions; deleted entries are not.
func TestHotEvictionsCountTheBudgetOnly(t *testing.T) {
	c, err := Open(Options{MaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	e := c.Put(lookup(t, "a", "deleted"), answer, nil, 0, nil)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := c.DeleteEntry(ctx, "a", e.Key); err != nil || !n {
		t.Fatalf("delete: %v %v", n, err)
	}
	if r := c.Get(ctx, lookup(t, "a", "deleted")); r.Tier != TierNone {
		t.Fatal("the deleted entry is still served")
	}
	if s := c.Stats().Hot; s.Evictions != 0 || s.MaxBytes != 64<<10 {
		t.Fatalf("after a deletion: evictions %d (want 0), budget %d", s.Evictions, s.MaxBytes)
	}
	big := answer
	big.Text = string(make([]byte, 4<<10))
	for i := range 200 {
		c.Put(lookup(t, "a", fmt.Sprintf("q%d", i)), big, nil, 0, nil)
	}
	s := c.Stats().Hot
	if s.Evictions == 0 || s.Bytes > s.MaxBytes {
		t.Fatalf("200 entries of 4 KiB in a 64 KiB tier: evictions %d, bytes %d of %d", s.Evictions, s.Bytes, s.MaxBytes)
	}
}
