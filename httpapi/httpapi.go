// Package httpapi is the one style of semcache's JSON over HTTP: the
// OpenAI-style error body every API and admin endpoint returns, request
// ids, and the handler wrapper the admin APIs (the cache admin in
// proxy/admin and the RAG admin in rag) share: bearer-token check in
// constant time, a request id per request, an access log, and errors
// rendered at the edge.
package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
)

// ErrorBody is the OpenAI error body: {"error": {"message", "type",
// "param", "code"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong.
type ErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// Error types of ErrorDetail.Type.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAPI            = "api_error"
	TypeServer         = "server_error"
	TypeAuthentication = "authentication_error"
)

// Error renders an OpenAI-style error body; empty param and code are null.
func Error(message, typ, param, code string) []byte {
	e := ErrorBody{Error: ErrorDetail{Message: message, Type: typ}}
	if param != "" {
		e.Error.Param = &param
	}
	if code != "" {
		e.Error.Code = &code
	}
	b, _ := json.Marshal(e) // cannot fail: plain strings
	return b
}

// TypeOf is the error type that goes with an HTTP status.
func TypeOf(status int) string {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return TypeAuthentication
	case status >= 500:
		return TypeServer
	default:
		return TypeInvalidRequest
	}
}

// WriteError writes an OpenAI-style error response.
func WriteError(w http.ResponseWriter, status int, message, typ, param, code string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(Error(message, typ, param, code))
}

// MaxRequestIDLen bounds a client-supplied X-Request-Id that is reused.
const MaxRequestIDLen = 128

// RequestID returns the request's X-Request-Id when it has a usable one,
// else a fresh random id.
func RequestID(h http.Header) string {
	if id := h.Get("X-Request-Id"); id != "" && len(id) <= MaxRequestIDLen {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
