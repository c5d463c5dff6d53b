// Package cache is semcache's answer cache, whatever the API: it derives
// keys from an endpoint-neutral description of a request (Lookup: the
// canonical key material, the text to embed, the partition material, the
// salt, all provided by the API's wire package under wire/), holds answers
// in an exact tier (ristretto in memory, bbolt on disk) and a similarity
// tier (an embedder plus a vector store, guarded by a verifier), writes
// entries back off the request path (batched bbolt transactions with a
// journal of what the vector store still needs, retried while it fails:
// see writeback.go), bounds each namespace (quotas evicting the least
// recently hit), purges expired entries (the janitor), invalidates them
// (by namespace, age or RAG source) and administers them (list, search,
// export, warm).
//
// An Answer is endpoint-neutral too: model, usage, a text rendition (what
// the admin API shows and shadow mode compares) and a payload only the
// endpoint's wire package reads. Answers written before semcache served
// more than one API decode as chat answers, under the same keys.
//
// It knows nothing about wire formats, HTTP servers or gRPC: the engine
// calls it and translates its errors at the edge.
package cache
