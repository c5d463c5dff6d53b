package wordvec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScanner reads the little JSON the source file needs, streaming:
// strings, numbers and skipping whatever else. The source is 307 MB with
// 34 million numbers, so it avoids encoding/json's per-token allocations.
type jsonScanner struct {
	r   *bufio.Reader
	off int64 // bytes consumed, for error messages
	buf []byte
}

const (
	maxStringLen = 1 << 10
	maxNumberLen = 64
	maxDepth     = 64
)

func newJSONScanner(r io.Reader) *jsonScanner {
	return &jsonScanner{r: bufio.NewReaderSize(r, 1<<16)}
}

func (s *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("wordvec: source JSON at byte %d: %s", s.off, fmt.Sprintf(format, args...))
}

func (s *jsonScanner) readByte() (byte, error) {
	c, err := s.r.ReadByte()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return 0, s.errorf("unexpected end of input")
		}
		return 0, fmt.Errorf("wordvec: reading source: %w", err)
	}
	s.off++
	return c, nil
}

func (s *jsonScanner) unread() {
	_ = s.r.UnreadByte()
	s.off--
}

// next returns the next byte that is not white space.
func (s *jsonScanner) next() (byte, error) {
	for {
		c, err := s.readByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, nil
	}
}

func (s *jsonScanner) expect(want byte) error {
	c, err := s.next()
	if err != nil {
		return err
	}
	if c != want {
		return s.errorf("found %q, want %q", c, want)
	}
	return nil
}

// more reports whether a list continues after an element: it consumes ','
// (true) or the closing byte (false).
func (s *jsonScanner) more(closing byte) (bool, error) {
	c, err := s.next()
	if err != nil {
		return false, err
	}
	switch c {
	case ',':
		return true, nil
	case closing:
		return false, nil
	}
	return false, s.errorf("found %q, want ',' or %q", c, closing)
}

// empty consumes the closing byte if the list is empty.
func (s *jsonScanner) empty(closing byte) (bool, error) {
	c, err := s.next()
	if err != nil {
		return false, err
	}
	if c == closing {
		return true, nil
	}
	s.unread()
	return false, nil
}

// str reads a string; the result is valid until the next call.
func (s *jsonScanner) str() ([]byte, error) {
	if err := s.expect('"'); err != nil {
		return nil, err
	}
	s.buf = s.buf[:0]
	for {
		c, err := s.readByte()
		if err != nil {
			return nil, err
		}
		if len(s.buf) > maxStringLen {
			return nil, s.errorf("string longer than %d bytes", maxStringLen)
		}
		switch {
		case c == '"':
			return s.buf, nil
		case c < 0x20:
			return nil, s.errorf("control character in string")
		case c != '\\':
			s.buf = append(s.buf, c)
			continue
		}
		c, err = s.readByte()
		if err != nil {
			return nil, err
		}
		switch c {
		case '"', '\\', '/':
			s.buf = append(s.buf, c)
		case 'b':
			s.buf = append(s.buf, '\b')
		case 'f':
			s.buf = append(s.buf, '\f')
		case 'n':
			s.buf = append(s.buf, '\n')
		case 'r':
			s.buf = append(s.buf, '\r')
		case 't':
			s.buf = append(s.buf, '\t')
		case 'u':
			r, err := s.hex4()
			if err != nil {
				return nil, err
			}
			if utf16.IsSurrogate(r) {
				// A low surrogate must follow; otherwise U+FFFD, as encoding/json.
				if b, err := s.r.Peek(2); err == nil && b[0] == '\\' && b[1] == 'u' {
					s.r.Discard(2)
					s.off += 2
					r2, err := s.hex4()
					if err != nil {
						return nil, err
					}
					r = utf16.DecodeRune(r, r2)
				} else {
					r = utf8.RuneError
				}
			}
			s.buf = utf8.AppendRune(s.buf, r)
		default:
			return nil, s.errorf("bad escape \\%c", c)
		}
	}
}

func (s *jsonScanner) hex4() (rune, error) {
	var r rune
	for range 4 {
		c, err := s.readByte()
		if err != nil {
			return 0, err
		}
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, s.errorf("bad \\u escape")
		}
		r = r<<4 | rune(d)
	}
	return r, nil
}

// number reads a JSON number.
func (s *jsonScanner) number() (float64, error) {
	c, err := s.next()
	if err != nil {
		return 0, err
	}
	var tmp [maxNumberLen]byte
	b := tmp[:0]
	for {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			s.unread()
			break
		}
		if len(b) == maxNumberLen {
			return 0, s.errorf("number longer than %d bytes", maxNumberLen)
		}
		b = append(b, c)
		if c, err = s.r.ReadByte(); err != nil {
			if errors.Is(err, io.EOF) {
				break // a number may end the input
			}
			return 0, fmt.Errorf("wordvec: reading source: %w", err)
		}
		s.off++
	}
	if len(b) == 0 {
		return 0, s.errorf("found %q, want a number", c)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, s.errorf("number %q: %v", string(b), errors.Unwrap(err))
	}
	return f, nil
}

// integer reads a number that must be a non-negative integer below limit.
func (s *jsonScanner) integer(limit int) (int, error) {
	f, err := s.number()
	if err != nil {
		return 0, err
	}
	if f < 0 || f >= float64(limit) || f != float64(int(f)) {
		return 0, s.errorf("%v is not an integer in [0, %d)", f, limit)
	}
	return int(f), nil
}

// skip reads past one value of any kind.
func (s *jsonScanner) skip(depth int) error {
	if depth > maxDepth {
		return s.errorf("nested deeper than %d", maxDepth)
	}
	c, err := s.next()
	if err != nil {
		return err
	}
	switch {
	case c == '"':
		s.unread()
		_, err := s.str()
		return err
	case c == '[' || c == '{':
		closing := byte(']')
		if c == '{' {
			closing = '}'
		}
		if done, err := s.empty(closing); err != nil || done {
			return err
		}
		for {
			if c == '{' {
				if _, err := s.str(); err != nil {
					return err
				}
				if err := s.expect(':'); err != nil {
					return err
				}
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			more, err := s.more(closing)
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
		}
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if lit[0] == c {
				for i := 1; i < len(lit); i++ {
					if d, err := s.readByte(); err != nil || d != lit[i] {
						return s.errorf("bad literal, want %s", lit)
					}
				}
			}
		}
		return nil
	default:
		s.unread()
		_, err := s.number()
		return err
	}
}
