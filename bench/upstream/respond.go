package upstream

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "server_error", "", "upstream: encode response: "+err.Error(), "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b) // a write error means the client went away; nothing to do
}

// writeError writes an OpenAI error body. Empty param and code become null.
func writeError(w http.ResponseWriter, status int, typ, param, message, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(errorBody(typ, param, message, code)) // typed struct of strings: cannot fail
	_, _ = w.Write(b)
}

func errorBody(typ, param, message, code string) apiError {
	e := apiError{Error: errorDetail{Message: message, Type: typ}}
	if param != "" {
		e.Error.Param = &param
	}
	if code != "" {
		e.Error.Code = &code
	}
	return e
}

// requestError is a 4xx answer decided while reading a request.
type requestError struct {
	status  int
	param   string
	message string
	code    string
}

func (e *requestError) Error() string { return e.message }

func (e *requestError) write(w http.ResponseWriter) {
	writeError(w, e.status, "invalid_request_error", e.param, e.message, e.code)
}

// statusError describes the error body for an HTTP status chosen by
// [[sim:status=NNN]], following what OpenAI sends for that status.
func statusError(status int) (typ, message, code string) {
	switch status {
	case http.StatusUnauthorized:
		return "invalid_request_error", "Incorrect API key provided (simulated).", "invalid_api_key"
	case http.StatusForbidden:
		return "permission_error", "You are not allowed to sample from this model (simulated).", "unsupported_country_region_territory"
	case http.StatusNotFound:
		return "invalid_request_error", "The model does not exist or you do not have access to it (simulated).", "model_not_found"
	case http.StatusTooManyRequests:
		return "requests", "Rate limit reached for requests (simulated).", "rate_limit_exceeded"
	case http.StatusServiceUnavailable:
		return "server_error", "The engine is currently overloaded, please try again later (simulated).", "engine_overloaded"
	}
	if status >= 500 {
		return "server_error", "The server had an error while processing your request. Sorry about that! (simulated)", ""
	}
	return "invalid_request_error", "Simulated " + strconv.Itoa(status) + " " + http.StatusText(status) + ".", ""
}
