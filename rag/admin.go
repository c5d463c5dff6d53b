package rag

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"strings"
)

// AdminOptions configure the document admin API.
type AdminOptions struct {
	// Token, when set, must arrive as "Authorization: Bearer <token>".
	Token string
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
	mux.HandleFunc("GET /admin/rag", a.auth(a.list))
	mux.HandleFunc("GET /admin/rag/{collection}", a.auth(a.stats))
	mux.HandleFunc("POST /admin/rag/{collection}/documents", a.auth(a.post))
	mux.HandleFunc("DELETE /admin/rag/{collection}/documents/{id...}", a.auth(a.delete))
}

type admin struct {
	s *Service
	o AdminOptions
}

func (a *admin) auth(h http.HandlerFunc) http.HandlerFunc {
	if a.o.Token == "" {
		return h
	}
	want := []byte("Bearer " + a.o.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin token required (Authorization: Bearer …)"})
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrUnknownCollection), errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrEmpty), errors.Is(err, ErrUnsupported):
		status = http.StatusBadRequest
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// collection checks the path's collection is configured.
func (a *admin) collection(r *http.Request) (string, error) {
	name := r.PathValue("collection")
	if !a.s.Configured(name) {
		return "", fmt.Errorf("%w %q (configured: %s)", ErrUnknownCollection, name, strings.Join(a.s.Collections(), ", "))
	}
	return name, nil
}

func (a *admin) list(w http.ResponseWriter, r *http.Request) {
	out := []Stats{}
	for _, name := range a.s.Collections() {
		st, err := a.s.Stats(r.Context(), name)
		if err != nil {
			writeErr(w, err)
			return
		}
		out = append(out, st)
	}
	writeJSON(w, http.StatusOK, map[string]any{"collections": out})
}

func (a *admin) stats(w http.ResponseWriter, r *http.Request) {
	name, err := a.collection(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	st, err := a.s.Stats(r.Context(), name)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *admin) delete(w http.ResponseWriter, r *http.Request) {
	name, err := a.collection(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	res, err := a.s.Delete(r.Context(), name, r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *admin) post(w http.ResponseWriter, r *http.Request) {
	name, err := a.collection(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.o.MaxBodyBytes)
	docs, err := readDocuments(r, a.s.o.MaxDocBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = fmt.Errorf("%w: request body over %d bytes", ErrTooLarge, mbe.Limit)
		}
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.s.IngestAll(r.Context(), name, docs))
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
