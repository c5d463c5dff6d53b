package rag

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"

	"github.com/semcache/semcache/httpapi"
)

// AdminOptions configure the document admin API.
type AdminOptions struct {
	// Token, when set, must arrive as "Authorization: Bearer <token>".
	Token string
	// Logger gets the access log (nil: discarded).
	Logger *slog.Logger
	// MaxBodyBytes limits one request (default 4 × the document limit).
	MaxBodyBytes int64
}

// IngestResponse is the admin API's answer to a POST of documents.
type IngestResponse struct {
	Collection string   `json:"collection"`
	Results    []Result `json:"results"`
	Ingested   int      `json:"ingested"`
	Unchanged  int      `json:"unchanged"`
	Failed     int      `json:"failed"`
	Version    string   `json:"version,omitempty"`
}

// Register adds the document admin API to mux:
//
//	GET    /admin/rag                              configured collections with stats
//	GET    /admin/rag/{collection}                 documents, chunks, version
//	POST   /admin/rag/{collection}/documents       ingest (see below)
//	DELETE /admin/rag/{collection}/documents/{id}  delete a document (id may hold '/')
//
// A POST takes JSON (a Document, an array of them, or {"documents": [...]}),
// multipart/form-data (every file part is a document named by its file
// name; .jsonl/.json parts hold JSON documents), or any other body as one
// raw document named by ?id= (with optional ?title=, ?source=, ?format=;
// the format defaults to the id's extension or the Content-Type). Each
// document gets a Result; failures do not stop the batch.
func (s *Service) Register(mux *http.ServeMux, o AdminOptions) {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 4 * int64(s.o.MaxDocBytes)
	}
	a := &admin{s: s, o: o}
	wrap := httpapi.NewAdmin(httpapi.AdminOptions{Token: o.Token, StatusOf: statusOf, Logger: o.Logger})
	mux.Handle("GET /admin/rag", wrap.Wrap(a.list))
	mux.Handle("GET /admin/rag/{collection}", wrap.Wrap(a.stats))
	mux.Handle("POST /admin/rag/{collection}/documents", wrap.Wrap(a.post))
	mux.Handle("DELETE /admin/rag/{collection}/documents/{id...}", wrap.Wrap(a.delete))
}

type admin struct {
	s *Service
	o AdminOptions
}

// statusOf maps the package's errors to an HTTP status and error code.
func statusOf(err error) (int, string, bool) {
	switch {
	case errors.Is(err, ErrUnknownCollection), errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found", true
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large", true
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrEmpty), errors.Is(err, ErrUnsupported):
		return http.StatusBadRequest, "invalid_argument", true
	}
	return 0, "", false
}

// collection checks the path's collection is configured.
func (a *admin) collection(r *http.Request) (string, error) {
	name := r.PathValue("collection")
	if !a.s.Configured(name) {
		return "", fmt.Errorf("%w %q (configured: %s)", ErrUnknownCollection, name, strings.Join(a.s.Collections(), ", "))
	}
	return name, nil
}

func (a *admin) list(w http.ResponseWriter, r *http.Request) error {
	out := []Stats{}
	for _, name := range a.s.Collections() {
		st, err := a.s.Stats(r.Context(), name)
		if err != nil {
			return err
		}
		out = append(out, st)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"collections": out})
	return nil
}

func (a *admin) stats(w http.ResponseWriter, r *http.Request) error {
	name, err := a.collection(r)
	if err != nil {
		return err
	}
	st, err := a.s.Stats(r.Context(), name)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, st)
	return nil
}

func (a *admin) delete(w http.ResponseWriter, r *http.Request) error {
	name, err := a.collection(r)
	if err != nil {
		return err
	}
	res, err := a.s.Delete(r.Context(), name, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (a *admin) post(w http.ResponseWriter, r *http.Request) error {
	name, err := a.collection(r)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.o.MaxBodyBytes)
	docs, err := readDocuments(r, a.s.o.MaxDocBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = fmt.Errorf("%w: request body over %d bytes", ErrTooLarge, mbe.Limit)
		}
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, a.s.IngestAll(r.Context(), name, docs))
	return nil
}

// IngestAll ingests documents one by one, collecting a Result for each
// (failures included).
func (s *Service) IngestAll(ctx context.Context, collection string, docs []Document) IngestResponse {
	resp := IngestResponse{Collection: collection, Results: make([]Result, 0, len(docs))}
	for _, d := range docs {
		res, err := s.Ingest(ctx, collection, d)
		if err != nil {
			res.Error = err.Error()
		}
		switch res.Status {
		case StatusIngested:
			resp.Ingested++
		case StatusUnchanged:
			resp.Unchanged++
		default:
			resp.Failed++
		}
		resp.Results = append(resp.Results, res)
	}
	resp.Version = (*s.versions.Load())[collection]
	return resp
}

// readDocuments decodes a POST body into documents.
func readDocuments(r *http.Request, maxDoc int) ([]Document, error) {
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/json":
		return decodeJSONDocuments(r.Body)
	case strings.HasPrefix(ct, "multipart/"):
		return readMultipart(multipart.NewReader(r.Body, params["boundary"]), maxDoc)
	}
	q := r.URL.Query()
	id := q.Get("id")
	if id == "" {
		return nil, fmt.Errorf("%w: a raw document needs ?id= (or send JSON or multipart)", ErrInvalid)
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	kind := q.Get("format")
	if kind == "" {
		kind = KindOf(id)
	}
	if kind == "" {
		switch ct {
		case "text/markdown":
			kind = "markdown"
		case "text/html":
			kind = "html"
		case "application/x-ndjson", "application/jsonl":
			kind = "json"
		default:
			kind = "text"
		}
	}
	source := q.Get("source")
	if source == "" {
		source = id
	}
	docs, err := Parse(kind, id, source, data)
	if err != nil {
		return nil, err
	}
	if t := q.Get("title"); t != "" && len(docs) == 1 {
		docs[0].Title = t
	}
	return docs, nil
}

func decodeJSONDocuments(r io.Reader) ([]Document, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSpace(data)
	var docs []Document
	switch {
	case len(data) > 0 && data[0] == '[':
		err = json.Unmarshal(data, &docs)
	default:
		var probe struct {
			Documents []Document `json:"documents"`
			Document
		}
		err = json.Unmarshal(data, &probe)
		docs = probe.Documents
		if docs == nil {
			docs = []Document{probe.Document}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: want a document {id, title, source, content, format}, an array of them, or {\"documents\": [...]}: %w", ErrInvalid, err)
	}
	return docs, nil
}

func readMultipart(mr *multipart.Reader, maxDoc int) ([]Document, error) {
	var docs []Document
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: multipart: %w", ErrInvalid, err)
		}
		name := part.FileName()
		if name == "" {
			part.Close()
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, int64(maxDoc)+1))
		part.Close()
		if err != nil {
			return nil, err
		}
		kind := KindOf(name)
		if kind == "" {
			return nil, fmt.Errorf("%w %q in part %s", ErrUnsupported, path.Ext(name), name)
		}
		if len(data) > maxDoc {
			return nil, fmt.Errorf("%w: part %s over %d bytes", ErrTooLarge, name, maxDoc)
		}
		ds, err := Parse(kind, name, name, data)
		if err != nil {
			return nil, fmt.Errorf("part %s: %w", name, err)
		}
		docs = append(docs, ds...)
	}
	return docs, nil
}
