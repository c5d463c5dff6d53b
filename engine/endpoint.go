package engine

import (
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/chat"
	"github.com/semcache/semcache/wire/completions"
	"github.com/semcache/semcache/wire/embeddings"
	"github.com/semcache/semcache/wire/responses"
)

// Request is a parsed request of one API, as the engine sees it. Each
// wire package's request type implements it (chat.Request, …); the engine
// holds all policy, the request only knows its wire format.
type Request interface {
	// Items describe the cacheable parts of the request to the cache: one
	// for most APIs, one per input for batch APIs (embeddings). The engine
	// adds namespace and salt.
	Items() []cache.Lookup
	// Bypass says why the request must never be cached ("" when it may).
	Bypass() string
	// Variant names the transport choices outside the key that change the
	// reply bytes (stream, usage chunk, encoding): identical in-flight
	// misses with the same keys and variant share one upstream call.
	Variant() string
	// Summary is a short text shown on the dashboard.
	Summary() string
	// UpstreamBody returns the body that asks upstream for the items at
	// missing (all of them for a full miss), or nil to send the body as
	// it came. Only called with a proper subset when the body can be
	// replaced.
	UpstreamBody(missing []int) ([]byte, error)
	// Assembler observes the upstream answer to the items at missing.
	Assembler(stream bool, missing []int) wire.Assembler
	// Render replays one answer per item as the reply, with fresh ids,
	// the usage and the marker o asks for.
	Render(answers []*cache.Answer, o wire.RenderOptions) (contentType string, body []byte, err error)
}

// Enrichable is a Request whose prompt RAG can enrich: a chat request.
type Enrichable interface {
	ChatRequest() *chat.Request
}

// Endpoint is one API the engine caches.
type Endpoint struct {
	// Name is the API's name in cache entries and the route label.
	Name string
	// Path is the request path it is served at (POST only).
	Path string
	// Parse validates a body; errors are *wire.RequestError.
	Parse func(body []byte) (Request, error)
	// UpstreamPath, when set, rewrites the path of a request this API
	// passes through (e.g. one naming a replayed id), reporting whether
	// it changed anything.
	UpstreamPath func(path string) (string, bool)
}

// Endpoints are the APIs the engine caches. Adding one is a wire package
// plus one line here.
func Endpoints(mode wire.PromptMode) []Endpoint {
	return []Endpoint{
		endpoint(chat.Name, chat.Path, chat.Parser(mode)),
		withUpstreamPath(endpoint(responses.Name, responses.Path, responses.Parser(mode)), responses.UpstreamPath),
		endpoint(embeddings.Name, embeddings.Path, embeddings.ParseRequest),
		endpoint(completions.Name, completions.Path, completions.ParseRequest),
	}
}

// endpoint adapts a wire package's parse function (returning its own
// request type) to the engine's.
func endpoint[R Request](name, path string, parse func([]byte) (R, error)) Endpoint {
	return Endpoint{Name: name, Path: path, Parse: func(body []byte) (Request, error) {
		r, err := parse(body)
		if err != nil {
			return nil, err
		}
		return r, nil
	}}
}

func withUpstreamPath(e Endpoint, f func(string) (string, bool)) Endpoint {
	e.UpstreamPath = f
	return e
}

var (
	_ Request = (*chat.Request)(nil)
	_ Request = (*responses.Request)(nil)
	_ Request = (*embeddings.Request)(nil)
	_ Request = (*completions.Request)(nil)
)
