package cache

import (
	"context"
	"time"
)

// DefaultJanitorInterval is how often the janitor runs
// (Options.JanitorInterval, --janitor-interval).
const DefaultJanitorInterval = time.Minute

// janitorBatch bounds the entries one janitor transaction deletes.
const janitorBatch = 4096

// startJanitor runs the janitor every JanitorInterval until Close.
func (c *Cache) startJanitor() {
	if c.opts.JanitorInterval < 0 {
		return
	}
	c.janitorWG.Add(1)
	go func() {
		defer c.janitorWG.Done()
		t := time.NewTicker(c.opts.JanitorInterval)
		defer t.Stop()
		for {
			select {
			case <-c.closing:
				c.saveLastHits()
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), c.opts.JanitorInterval)
				if _, err := c.Sweep(ctx); err != nil {
					c.log.Warn("cache: janitor", "err", err)
				}
				cancel()
			}
		}
	}()
}

// Sweep purges expired entries from the disk tier and the vector store
// (the hot tier expires them itself), records the last hits quotas go by,
// and reports how many entries it purged. The janitor calls it every
// JanitorInterval.
func (c *Cache) Sweep(ctx context.Context) (int, error) {
	c.saveLastHits()
	now := c.now()
	purged := 0
	for ctx.Err() == nil {
		var gone []Key
		if c.disk != nil {
			keys, err := c.disk.expired(now, janitorBatch)
			if err != nil {
				return purged, err
			}
			if gone, err = c.disk.purgeExpired(keys, now); err != nil {
				return purged, err
			}
			c.usage.remove(gone)
			if len(keys) < janitorBatch {
				c.journalN.Store(int64(c.disk.journalLen()))
			}
		} else {
			gone = c.usage.expired(now.UnixNano(), janitorBatch)
		}
		if len(gone) == 0 {
			break
		}
		purged += len(gone)
		c.stats.expired.Add(uint64(len(gone)))
		c.sourcesMu.Lock()
		for _, ks := range c.sources {
			for _, k := range gone {
				delete(ks, k)
			}
		}
		c.sourcesMu.Unlock()
		if sem := c.semantic(); sem != nil {
			ids := make([]string, 0, len(gone)*(1+maxAliases))
			for _, k := range gone {
				ids = appendAliasIDs(append(ids, k.String()), k.String())
			}
			// The store returns no expired record, so a failure here only
			// delays the space; the next sweep does not see these again.
			if err := sem.Index.Delete(ctx, ids); err != nil {
				c.stats.storeErrors.Add(1)
				c.stats.janitorErrors.Add(1)
				c.log.Warn("cache: janitor: delete expired records from the vector store", "records", len(gone), "err", err)
			}
		}
		if len(gone) < janitorBatch {
			break
		}
	}
	return purged, ctx.Err()
}

// saveLastHits writes the last hits recorded since the previous call.
func (c *Cache) saveLastHits() {
	if c.disk == nil {
		return
	}
	if d := c.usage.takeDirty(); len(d) > 0 {
		if err := c.disk.setLastHits(d); err != nil {
			c.log.Warn("cache: record last hits", "err", err)
		}
	}
}
