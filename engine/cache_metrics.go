package engine

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/cache"
)

// cacheCollector reads the cache's own counters at scrape time.
//
// The write-back series do not overlap. An upstream answer the engine
// does not hand to the cache is semcache_writeback_skipped_total{reason};
// one it hands over is either
//
//	dropped_total{stage=queue}   found the queue full: hot tier only, or
//	queued_total                 accepted by the write-back queue, which is
//	                             written_total once done (on disk and in the
//	                             similarity tier, or parked for a retry) and
//	                             counted in backlog{stage=queue} until then.
//
// Later, and apart from those:
//
//	dropped_total{stage=index}   parked records given up past the vector-store
//	                             backlog's bound (the entry stays in the exact tier)
//	errors_total{stage}          disk: entries not persisted; embed, index: failed calls (retried)
//	backlog{stage=index}         entries waiting for the vector store (journal and memory)
//	replayed_total               entries indexed from the journal after a restart or an outage
//	waited_total                 answers that waited for room in the queue (backpressure)
//	aliases_total{result}        alias records written or dropped (best effort)
type cacheCollector struct{ c *cache.Cache }

var (
	descEntries   = prometheus.NewDesc("semcache_cache_entries", "Entries per tier (hot, disk).", []string{"tier"}, nil)
	descBytes     = prometheus.NewDesc("semcache_cache_bytes", "Bytes held by the hot tier.", []string{"tier"}, nil)
	descMaxBytes  = prometheus.NewDesc("semcache_cache_max_bytes", "The hot tier's memory budget (--cache-max-bytes).", []string{"tier"}, nil)
	descEvictions = prometheus.NewDesc("semcache_cache_evictions_total", "Entries evicted, by cause: size (the hot tier's memory budget; the entry stays on disk) or quota (a namespace quota; removed from every tier).", []string{"cause"}, nil)
	descQueued    = prometheus.NewDesc("semcache_writeback_queued_total", "Entries the write-back queue accepted.", nil, nil)
	descWritten   = prometheus.NewDesc("semcache_writeback_written_total", "Entries the write-back finished (on disk and in the similarity tier, or parked for a retry).", nil, nil)
	descDropped   = prometheus.NewDesc("semcache_writeback_dropped_total", "Entries the write-back gave up on, by stage: queue (queue full: hot tier only), index (past the vector-store backlog's bound: exact tier only).", []string{"stage"}, nil)
	descErrors    = prometheus.NewDesc("semcache_writeback_errors_total", "Write-back failures by stage: disk (entries not persisted), embed and index (failed embedder and vector-store calls, retried from the backlog).", []string{"stage"}, nil)
	descBacklog   = prometheus.NewDesc("semcache_writeback_backlog", "Write-back work waiting, by stage: queue (jobs, entries and aliases, queued or being written), index (entries waiting for the vector store, journal and memory).", []string{"stage"}, nil)
	descReplayed  = prometheus.NewDesc("semcache_writeback_replayed_total", "Entries indexed from the journal after a restart or a vector-store outage.", nil, nil)
	descWaited    = prometheus.NewDesc("semcache_writeback_waited_total", "Answers that found the write-back queue full and waited for room (backpressure).", nil, nil)
	descAliases   = prometheus.NewDesc("semcache_writeback_aliases_total", "Alias records (a served paraphrase's wording) by result: written, dropped (best effort).", []string{"result"}, nil)
	descExpired   = prometheus.NewDesc("semcache_janitor_expired_total", "Expired entries the janitor purged from disk and the vector store.", nil, nil)
	descJanitor   = prometheus.NewDesc("semcache_janitor_errors_total", "Vector-store deletions of the janitor that failed.", nil, nil)
)

var cacheDescs = []*prometheus.Desc{descEntries, descBytes, descMaxBytes, descEvictions, descQueued, descWritten, descDropped,
	descErrors, descBacklog, descReplayed, descWaited, descAliases, descExpired, descJanitor}

func (cc *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range cacheDescs {
		ch <- d
	}
}

func (cc *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := cc.c.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descEntries, float64(s.Hot.Entries), "hot")
	gauge(descEntries, float64(s.DiskEntries), "disk")
	gauge(descBytes, float64(s.Hot.Bytes), "hot")
	gauge(descMaxBytes, float64(s.Hot.MaxBytes), "hot")
	counter(descEvictions, s.Hot.Evictions, "size")
	counter(descEvictions, s.Evicted, "quota")
	counter(descQueued, s.Queued)
	counter(descWritten, s.Written)
	counter(descDropped, s.Dropped, "queue")
	counter(descDropped, s.IndexDropped, "index")
	counter(descErrors, s.WriteErrors, "disk")
	counter(descErrors, s.WriteBackEmbedErrors, "embed")
	counter(descErrors, s.IndexErrors, "index")
	gauge(descBacklog, float64(s.QueueLen), "queue")
	gauge(descBacklog, float64(s.IndexBacklog), "index")
	counter(descReplayed, s.Replayed)
	counter(descWaited, s.Waited)
	counter(descAliases, s.Aliases, "written")
	counter(descAliases, s.AliasesDropped, "dropped")
	counter(descExpired, s.Expired)
	counter(descJanitor, s.JanitorErrors)
}
