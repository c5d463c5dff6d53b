package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Handler is an admin API handler: it writes its answer, or returns an
// error that the wrapper renders.
type Handler func(w http.ResponseWriter, r *http.Request) error

// StatusError is an error with its HTTP status and error code, made at
// the edge.
type StatusError struct {
	Status int
	Code   string
	Msg    string
}

func (e *StatusError) Error() string { return e.Msg }

// Errorf returns a *StatusError.
func Errorf(status int, code, msg string) error {
	return &StatusError{Status: status, Code: code, Msg: msg}
}

// AdminOptions configure an Admin wrapper.
type AdminOptions struct {
	// Token, when set, must arrive as "Authorization: Bearer <token>".
	Token string
	// StatusOf maps the package's own errors to a status and error code;
	// *StatusError, *http.MaxBytesError and context errors are mapped
	// before it is asked. Nil: everything else is a 500.
	StatusOf func(error) (status int, code string, ok bool)
	Logger   *slog.Logger
	Now      func() time.Time
}

// Admin wraps admin API handlers in the one admin style: the bearer-token
// check (in constant time, over hashes so the token's length does not
// leak either), a request id (X-Request-Id, echoed), Cache-Control:
// no-store, an access log, and errors rendered as OpenAI-style JSON
// ({"error": {"message", "type", "param", "code"}}).
type Admin struct {
	token    [32]byte
	hasToken bool
	statusOf func(error) (int, string, bool)
	log      *slog.Logger
	now      func() time.Time
}

// NewAdmin returns a wrapper for o.
func NewAdmin(o AdminOptions) *Admin {
	a := &Admin{statusOf: o.StatusOf, log: o.Logger, now: o.Now}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if o.Token != "" {
		a.token, a.hasToken = sha256.Sum256([]byte(o.Token)), true
	}
	return a
}

// statusWriter records the status for the access log; Unwrap keeps
// http.ResponseController (Flush) working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

type loggerKey struct{}

type authKey struct{}

// Authenticated reports, inside a wrapped handler, whether the request
// carried the configured admin token (false when none is configured).
func Authenticated(r *http.Request) bool {
	ok, _ := r.Context().Value(authKey{}).(bool)
	return ok
}

// Logger returns the request's logger (with its request id) inside a
// wrapped handler, else fallback.
func Logger(r *http.Request, fallback *slog.Logger) *slog.Logger {
	if l, ok := r.Context().Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return fallback
}

// Wrap adds authentication, a request id, an access log and error
// rendering to h. Its routes read or change content (prompts, answers,
// documents): they need the token, and without a configured token they
// are refused (403) altogether.
func (a *Admin) Wrap(h Handler) http.Handler { return a.wrap(h, true) }

// WrapOpen is Wrap for routes that show only aggregates (counters,
// rates): without a configured token they are open (the admin listener
// is then loopback only); with one they need it. A handler that can also
// show content asks Authenticated first.
func (a *Admin) WrapOpen(h Handler) http.Handler { return a.wrap(h, false) }

func (a *Admin) wrap(h Handler, content bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := a.now()
		rid := RequestID(r.Header)
		w.Header().Set("X-Request-Id", rid)
		w.Header().Set("Cache-Control", "no-store")
		log := a.log.With("request_id", rid)
		sw := &statusWriter{ResponseWriter: w}
		var err error
		switch {
		case content && !a.hasToken:
			err = Errorf(http.StatusForbidden, "admin_token_required",
				"this admin route reads or changes cached content; start semcache with --admin-token and send it as Authorization: Bearer <token>")
		case a.Authorized(r):
			ctx := context.WithValue(r.Context(), loggerKey{}, log)
			if a.hasToken {
				ctx = context.WithValue(ctx, authKey{}, true)
			}
			err = h(sw, r.WithContext(ctx))
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="semcache admin"`)
			err = Errorf(http.StatusUnauthorized, "unauthorized", "missing or wrong admin token (Authorization: Bearer <token>)")
		}
		if err != nil {
			status, code := a.status(err)
			if sw.status == 0 {
				WriteJSON(sw, status, ErrorBody{Error: ErrorDetail{Message: err.Error(), Type: TypeOf(status), Code: &code}})
			}
			if status >= 500 {
				log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
			}
		}
		level := slog.LevelDebug
		if r.Method != http.MethodGet || sw.status >= 400 {
			level = slog.LevelInfo
		}
		log.Log(r.Context(), level, "admin request", "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration", a.now().Sub(start))
	})
}

func (a *Admin) status(err error) (int, string) {
	var se *StatusError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return se.Status, se.Code
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "cancelled"
	}
	if a.statusOf != nil {
		if status, code, ok := a.statusOf(err); ok {
			return status, code
		}
	}
	return http.StatusInternalServerError, "internal"
}

// Authorized checks the bearer token.
func (a *Admin) Authorized(r *http.Request) bool {
	if !a.hasToken {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	return subtle.ConstantTimeCompare(sum[:], a.token[:]) == 1
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = Error("encode response: "+err.Error(), TypeServer, "", "internal")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
