package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/semcache/semcache/cache"
)

// CacheStats are the cache's counters since it opened.
type CacheStats struct {
	HotEntries   int64  `json:"hot_entries"`
	HotBytes     int64  `json:"hot_bytes"`
	HotEvictions uint64 `json:"hot_evictions"`
	HotRejected  uint64 `json:"hot_rejected"`
	DiskEntries  int    `json:"disk_entries"`
	Queued       uint64 `json:"writeback_queued"`
	QueueLen     int    `json:"writeback_queue_length"`
	Dropped      uint64 `json:"writeback_dropped"`
	Written      uint64 `json:"writeback_written"`
	WriteErrors  uint64 `json:"disk_write_errors"`
	EmbedErrors  uint64 `json:"embedder_errors"`
	StoreErrors  uint64 `json:"store_errors"`
}

func cacheStats(s cache.Stats) CacheStats {
	return CacheStats{
		HotEntries: s.Hot.Entries, HotBytes: s.Hot.Bytes, HotEvictions: s.Hot.Evictions, HotRejected: s.Hot.Rejected,
		DiskEntries: s.DiskEntries, Queued: s.Queued, QueueLen: s.QueueLen, Dropped: s.Dropped, Written: s.Written,
		WriteErrors: s.WriteErrors, EmbedErrors: s.EmbedErrors, StoreErrors: s.StoreErrors,
	}
}

// StatsResponse is GET /admin/api/stats.
type StatsResponse struct {
	Cache CacheStats `json:"cache"`
	// Totals count requests and savings since the process started.
	Totals Summary `json:"totals"`
	// Traffic is Totals per namespace label (namespaces beyond the metrics
	// bound fold into "_other").
	Traffic []NamespaceSummary `json:"traffic"`
	// Namespaces lists the stored entries per namespace (a disk scan).
	Namespaces []cache.NamespaceStats `json:"namespaces"`
	// NamespacesError says why Namespaces is empty (no disk tier).
	NamespacesError string `json:"namespaces_error,omitempty"`
}

func (a *Admin) handleStats(w http.ResponseWriter, r *http.Request) error {
	snap, err := readSnapshot(a.gatherer)
	if err != nil {
		return err
	}
	resp := StatsResponse{Cache: cacheStats(a.cache.Stats()), Totals: snap.summary(""), Traffic: snap.namespaceSummaries()}
	resp.Namespaces, err = a.cache.Namespaces(r.Context())
	switch {
	case errors.Is(err, cache.ErrNeedsDisk):
		resp.NamespacesError = err.Error()
	case err != nil:
		return err
	}
	if resp.Namespaces == nil {
		resp.Namespaces = []cache.NamespaceStats{}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// EntriesResponse is GET /admin/api/namespaces/{ns}/entries.
type EntriesResponse struct {
	Namespace string         `json:"namespace"`
	Count     int            `json:"count"`
	Entries   []*cache.Entry `json:"entries"`
}

func (a *Admin) handleList(w http.ResponseWriter, r *http.Request) error {
	ns := r.PathValue("ns")
	q := cache.ListQuery{Search: r.URL.Query().Get("q")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return apiError(http.StatusBadRequest, "invalid_argument", fmt.Sprintf("limit %q: want a positive number", v))
		}
		q.Limit = n
	}
	entries, err := a.cache.List(r.Context(), ns, q)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []*cache.Entry{}
	}
	writeJSON(w, http.StatusOK, EntriesResponse{Namespace: ns, Count: len(entries), Entries: entries})
	return nil
}

func (a *Admin) handleGetEntry(w http.ResponseWriter, r *http.Request) error {
	e, err := a.cache.Entry(r.Context(), r.PathValue("ns"), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// DeleteResponse reports a deletion.
type DeleteResponse struct {
	Namespace string `json:"namespace"`
	Deleted   int    `json:"deleted"`
}

func (a *Admin) handleDeleteEntry(w http.ResponseWriter, r *http.Request) error {
	ns, id := r.PathValue("ns"), r.PathValue("id")
	ok, err := a.cache.DeleteEntry(r.Context(), ns, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("admin: entry %s of namespace %s: %w", id, ns, cache.ErrNotFound)
	}
	if a.tracker != nil {
		a.tracker.ForgetEntry(ns, id)
	}
	a.logger(r).Info("admin: entry deleted", "namespace", ns, "entry", id)
	writeJSON(w, http.StatusOK, DeleteResponse{Namespace: ns, Deleted: 1})
	return nil
}

func (a *Admin) handleDeleteOlder(w http.ResponseWriter, r *http.Request) error {
	ns := r.PathValue("ns")
	v := r.URL.Query().Get("older_than")
	if v == "" {
		return apiError(http.StatusBadRequest, "invalid_argument", "older_than is required (an RFC 3339 time or a duration such as 24h); DELETE the namespace to remove everything")
	}
	t, err := parseOlderThan(v, a.now())
	if err != nil {
		return err
	}
	n, err := a.cache.DeleteOlderThan(r.Context(), ns, t)
	if err != nil {
		return err
	}
	a.logger(r).Info("admin: old entries deleted", "namespace", ns, "older_than", t, "deleted", n)
	writeJSON(w, http.StatusOK, DeleteResponse{Namespace: ns, Deleted: n})
	return nil
}

// parseOlderThan reads an RFC 3339 time or a positive duration before now.
func parseOlderThan(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%w: older_than %q: want an RFC 3339 time or a positive duration such as 24h", cache.ErrInvalid, v)
	}
	return now.Add(-d), nil
}

func (a *Admin) handleDeleteNamespace(w http.ResponseWriter, r *http.Request) error {
	ns := r.PathValue("ns")
	n, err := a.cache.DeleteNamespace(r.Context(), ns)
	if err != nil {
		return err
	}
	if a.tracker != nil {
		a.tracker.ForgetNamespace(ns)
	}
	a.logger(r).Info("admin: namespace deleted", "namespace", ns, "deleted", n)
	writeJSON(w, http.StatusOK, DeleteResponse{Namespace: ns, Deleted: n})
	return nil
}

// WarmResponse is POST /admin/api/namespaces/{ns}/warm.
type WarmResponse struct {
	Namespace string `json:"namespace"`
	Stored    int    `json:"stored"`
}

func (a *Admin) handleWarm(w http.ResponseWriter, r *http.Request) error {
	ns := r.PathValue("ns")
	if a.warmer == nil {
		return apiError(http.StatusNotImplemented, "not_implemented", "warming is not available on this server")
	}
	body := http.MaxBytesReader(w, r.Body, a.maxWarm)
	n, err := a.warmer.Warm(r.Context(), ns, body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apiError(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("warm file larger than %d bytes; split it", mbe.Limit))
		}
		return err
	}
	a.logger(r).Info("admin: cache warmed", "namespace", ns, "stored", n)
	writeJSON(w, http.StatusOK, WarmResponse{Namespace: ns, Stored: n})
	return nil
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// countingWriter tells whether any byte reached the client.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (a *Admin) handleExport(w http.ResponseWriter, r *http.Request) error {
	ns := r.PathValue("ns")
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="semcache-`+unsafeFileChars.ReplaceAllString(ns, "_")+`.jsonl"`)
	cw := &countingWriter{w: w}
	err := a.cache.Export(r.Context(), ns, cw)
	if err != nil && cw.n > 0 {
		// Too late for an error status: break the stream so the client
		// cannot mistake a partial export for a complete one.
		a.logger(r).Warn("admin: export broken", "namespace", ns, "err", err)
		panic(http.ErrAbortHandler)
	}
	if err != nil {
		w.Header().Del("Content-Disposition")
	}
	return err
}
