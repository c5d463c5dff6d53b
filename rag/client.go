package rag

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/semcache/semcache/httpapi"
)

// Client talks to a running server's document admin API (what
// `semcache ingest --admin-url` uses).
type Client struct {
	// BaseURL is the admin listener, e.g. http://127.0.0.1:8081.
	BaseURL string
	// Token is the admin token, if the server wants one.
	Token string
	HTTP  *http.Client
}

// ErrServer wraps errors the server reported.
var ErrServer = errors.New("rag: server error")

func (c *Client) do(ctx context.Context, method, p string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+p, rd)
	if err != nil {
		return fmt.Errorf("rag: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("rag: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("rag: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e httpapi.ErrorBody
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		return fmt.Errorf("%w: %s %s: %d %s", ErrServer, method, p, resp.StatusCode, msg)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("rag: %s %s: bad response: %w", method, p, err)
	}
	return nil
}

// Ingest sends documents to a collection.
func (c *Client) Ingest(ctx context.Context, collection string, docs []Document) (IngestResponse, error) {
	var out IngestResponse
	err := c.do(ctx, http.MethodPost, "/admin/rag/"+url.PathEscape(collection)+"/documents", docs, &out)
	return out, err
}

// Delete removes a document from a collection.
func (c *Client) Delete(ctx context.Context, collection, id string) (Result, error) {
	var out Result
	err := c.do(ctx, http.MethodDelete, "/admin/rag/"+url.PathEscape(collection)+"/documents/"+escapePath(id), nil, &out)
	return out, err
}

// Stats fetches a collection's stats.
func (c *Client) Stats(ctx context.Context, collection string) (Stats, error) {
	var out Stats
	err := c.do(ctx, http.MethodGet, "/admin/rag/"+url.PathEscape(collection), nil, &out)
	return out, err
}

// escapePath escapes an id for a {id...} path wildcard, keeping '/'.
func escapePath(id string) string {
	parts := strings.Split(id, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
