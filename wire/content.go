package wire

// ContentStarter is implemented by the assemblers of streamed APIs: it
// reports whether an SSE event carrying content (text, a refusal, a tool
// call) has been seen. The engine times the upstream's first token with it
// (semcache_upstream_first_token_seconds); role-only and metadata events
// before the first content do not count.
type ContentStarter interface {
	ContentStarted() bool
}
