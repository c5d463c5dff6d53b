package proxy

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/semcache/semcache/cache"
)

// apiError is the OpenAI error body: {"error":{"message","type","param","code"}}.
type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// ErrorBody renders an OpenAI-style error body.
func ErrorBody(message, typ, param, code string) []byte {
	e := apiError{Error: apiErrorBody{Message: message, Type: typ}}
	if param != "" {
		e.Error.Param = &param
	}
	if code != "" {
		e.Error.Code = &code
	}
	b, _ := json.Marshal(e)
	return b
}

// writeError writes an OpenAI-style error response.
func writeError(w http.ResponseWriter, status int, message, typ, param, code string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(ErrorBody(message, typ, param, code))
}

// StatusOf maps an error from the engine to an HTTP status and an OpenAI
// error body. It is the one place errors become wire errors.
func StatusOf(err error) (status int, body []byte) {
	var re *cache.RequestError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &re):
		return http.StatusBadRequest, ErrorBody(re.Message, "invalid_request_error", re.Param, "invalid_request")
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, ErrorBody(
			"request body exceeds the limit of "+itoa(mbe.Limit)+" bytes", "invalid_request_error", "", "request_too_large")
	case errors.Is(err, errBadControl):
		return http.StatusBadRequest, ErrorBody(err.Error(), "invalid_request_error", "", "invalid_header")
	default:
		return http.StatusInternalServerError, ErrorBody("internal error", "server_error", "", "")
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
