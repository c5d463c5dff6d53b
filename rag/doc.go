// Package rag enriches chat-completion requests with passages retrieved
// from document collections (retrieval-augmented generation) and keeps the
// answers cached on them honest.
//
// # Collections and storage
//
// All chunks of all collections live in one vectorstore.Store (a
// collection of its own, named after the embedder, next to the similarity
// tier's): a chunk's record has Namespace = collection name, Partition "",
// Meta {doc_id, source, title, position, hash} and the chunk as its JSON
// payload. Chunk ids are "<collection>/<document id>#<position>" (commas,
// '%' and spaces in document ids are %-escaped), which is what the
// X-Semcache-Sources header lists and cache entries record.
//
// The registry lives in the same store, under the reserved namespace
// "__registry__" (a collection name cannot start with '_'): one record per
// document (content hash, chunk count), one version record per collection,
// and pending purges. Every backend therefore holds its own registry, and
// replicas sharing a pgvector or Qdrant store agree on it; each replica
// re-reads the collection versions every Options.Refresh, so a replica
// that did not ingest stops serving answers built on old content at most
// one refresh interval after the change.
//
// # Coherence
//
// A collection's version is a random token replaced on every content
// change. Version(ns) joins the versions of the collections ns may read,
// and the engine salts the cache key and partition with it, so an answer
// built on old content can never be served after a change. An ingest
// writes the new chunks, deletes the stale ones, bumps the version, and
// then purges the cached answers that recorded the document's old chunk
// ids (Options.Purger). Without a purger (the offline `semcache ingest`)
// the ids are kept as a pending purge that the next server to start
// applies. Unchanged documents (same content hash) are skipped.
//
// # Tenancy
//
// A request in namespace N retrieves only from collections bound to N. A
// binding is a namespace as engine.Namespacer derives it ("tenant:acme",
// "key:<hash>", the shared namespace), a bare tenant name ("acme", which
// matches "tenant:acme" too), or "*" for every namespace.
package rag
