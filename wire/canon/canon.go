// Package canon writes JSON in the canonical form semcache's cache keys are
// built from: object keys sorted, no insignificant whitespace, null members
// dropped, numbers normalised (1, 1.0 and 1e0 are one number) and strings
// escaped one fixed way, so two requests that mean the same get the same
// bytes whatever their field order or spelling.
package canon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Decode decodes one JSON value keeping numbers as written (json.Number).
// Trailing data after the value is an error.
func Decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("canon: trailing data after JSON value")
	}
	return v, nil
}

// Append writes v (as Decode returns it) in canonical form.
func Append(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, x)
	case json.Number:
		return AppendNumber(dst, x)
	case string:
		return AppendString(dst, x)
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = Append(dst, e)
		}
		return append(dst, ']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k, e := range x {
			if e == nil {
				continue
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, k)
			dst = append(dst, ':')
			dst = Append(dst, x[k])
		}
		return append(dst, '}')
	default:
		// Not produced by Decode.
		return append(dst, "null"...)
	}
}

// AppendNumber normalises a JSON number: integers that fit exactly keep
// their digits, everything else is the shortest float64 form, so 1, 1.0 and
// 1e0 are one number.
func AppendNumber(dst []byte, n json.Number) []byte {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return strconv.AppendInt(dst, i, 10)
		}
		return append(dst, s...) // huge integer: keep as written
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return append(dst, s...)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// Equal reports whether the number n equals f (false for non-numbers).
func Equal(v any, f float64) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	g, err := n.Float64()
	return err == nil && g == f
}

const hexDigits = "0123456789abcdef"

// AppendString writes s as a JSON string with a fixed escaping so equal
// strings always encode equally.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// IsNull reports whether raw is the JSON literal null.
func IsNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// Present reports whether raw holds a value other than null.
func Present(raw json.RawMessage) bool { return len(raw) > 0 && !IsNull(raw) }

// ErrorText describes a JSON decoding error for an API error message.
func ErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "expected an object, got " + te.Value
	}
	return err.Error()
}

// Object decodes a request body that must be one JSON object in valid
// UTF-8, with the errors an API returns for anything else.
func Object(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errEmpty
	}
	if !utf8.Valid(body) {
		return nil, errNotUTF8
	}
	v, err := Decode(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", errNotJSON, ErrorText(err))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	return m, nil
}

var (
	errEmpty     = errors.New("request body is empty; expected a JSON object")
	errNotUTF8   = errors.New("request body is not valid UTF-8")
	errNotJSON   = errors.New("request body is not valid JSON")
	errNotObject = errors.New("request body must be a JSON object")
)
