package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var errMine = errors.New("mine: gone")

func TestAdminWrap(t *testing.T) {
	a := NewAdmin(AdminOptions{Token: "s3cret", StatusOf: func(err error) (int, string, bool) {
		if errors.Is(err, errMine) {
			return http.StatusGone, "gone", true
		}
		return 0, "", false
	}})
	h := a.Wrap(func(w http.ResponseWriter, r *http.Request) error {
		switch r.URL.Path {
		case "/ok":
			WriteJSON(w, http.StatusOK, map[string]string{"a": "b"})
			return nil
		case "/mine":
			return errMine
		case "/status":
			return Errorf(http.StatusBadRequest, "invalid_argument", "bad limit")
		}
		return errors.New("boom")
	})
	tests := []struct {
		path, token, reqID string
		status             int
		code, typ          string
	}{
		{"/ok", "s3cret", "rid-1", 200, "", ""},
		{"/ok", "", "", 401, "unauthorized", TypeAuthentication},
		{"/ok", "s3cre", "", 401, "unauthorized", TypeAuthentication},
		{"/mine", "s3cret", "", 410, "gone", TypeInvalidRequest},
		{"/status", "s3cret", "", 400, "invalid_argument", TypeInvalidRequest},
		{"/other", "s3cret", "", 500, "internal", TypeServer},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		if tt.reqID != "" {
			req.Header.Set("X-Request-Id", tt.reqID)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		b, _ := io.ReadAll(w.Body)
		if w.Code != tt.status || w.Header().Get("X-Request-Id") == "" || (tt.reqID != "" && w.Header().Get("X-Request-Id") != tt.reqID) {
			t.Fatalf("%s: %d %v", tt.path, w.Code, w.Header())
		}
		if tt.code == "" {
			continue
		}
		var e ErrorBody
		if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == nil || *e.Error.Code != tt.code || e.Error.Type != tt.typ || e.Error.Message == "" {
			t.Fatalf("%s: error body %s", tt.path, b)
		}
		if tt.status == 401 && !strings.Contains(w.Header().Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%s: no challenge", tt.path)
		}
	}
}

// TestAdminWrapWithoutToken: content routes are refused when no token is
// configured; open routes are served, and never count as authenticated.
func TestAdminWrapWithoutToken(t *testing.T) {
	for _, token := range []string{"", "s3cret"} {
		a := NewAdmin(AdminOptions{Token: token})
		authed := func(w http.ResponseWriter, r *http.Request) error {
			WriteJSON(w, http.StatusOK, map[string]bool{"authenticated": Authenticated(r)})
			return nil
		}
		for _, tc := range []struct {
			h      http.Handler
			sent   string
			status int
			body   string
		}{
			{a.Wrap(authed), "", map[bool]int{true: 403, false: 401}[token == ""], ""},
			{a.Wrap(authed), token, map[bool]int{true: 403, false: 200}[token == ""], ""},
			{a.WrapOpen(authed), "", map[bool]int{true: 200, false: 401}[token == ""], map[bool]string{true: `"authenticated":false`, false: `"unauthorized"`}[token == ""]},
			{a.WrapOpen(authed), token, 200, map[bool]string{true: `"authenticated":false`, false: `"authenticated":true`}[token == ""]},
		} {
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			if tc.sent != "" {
				req.Header.Set("Authorization", "Bearer "+tc.sent)
			}
			w := httptest.NewRecorder()
			tc.h.ServeHTTP(w, req)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("token %q, sent %q: %d %s, want %d %s", token, tc.sent, w.Code, w.Body, tc.status, tc.body)
			}
			if w.Code == 403 && !strings.Contains(w.Body.String(), "admin_token_required") {
				t.Errorf("403 without its code: %s", w.Body)
			}
		}
	}
}
