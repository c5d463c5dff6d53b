// Package sse parses and writes server-sent events (text/event-stream) as
// the WHATWG HTML standard defines them. Every wire format semcache streams
// (chat completions, responses, legacy completions) is read through this
// one parser, so they all treat line endings, comments and the optional
// space after "data:" alike.
package sse

import "bytes"

// Event is one server-sent event.
type Event struct {
	Event string
	Data  []byte
	ID    string
}

// Parser splits a byte stream into server-sent events following the
// WHATWG rules: lines end in CRLF, LF or CR; "data:" with or without one
// space; several data lines join with "\n"; a blank line dispatches; lines
// starting with ':' are comments. Feed it chunks as they arrive, in any
// split.
type Parser struct {
	line    []byte
	data    []byte
	event   string
	id      string
	hasData bool
	lastCR  bool
	// MaxLine bounds a single line (default 4 MiB) so a peer cannot make
	// the parser grow without limit.
	MaxLine int
	// Overflow is set when a line exceeded MaxLine; the rest of that line is
	// dropped.
	Overflow bool
}

// Feed parses p and calls emit for each completed event. It stops and
// returns emit's first error.
func (p *Parser) Feed(b []byte, emit func(Event) error) error {
	maxLine := p.MaxLine
	if maxLine <= 0 {
		maxLine = 4 << 20
	}
	for len(b) > 0 {
		if p.lastCR && b[0] == '\n' {
			b = b[1:]
			p.lastCR = false
			continue
		}
		p.lastCR = false
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			if len(p.line)+len(b) > maxLine {
				p.Overflow = true
				b = b[:max(0, maxLine-len(p.line))]
			}
			p.line = append(p.line, b...)
			return nil
		}
		if len(p.line)+i > maxLine {
			p.Overflow = true
			p.line = append(p.line, b[:max(0, maxLine-len(p.line))]...)
		} else {
			p.line = append(p.line, b[:i]...)
		}
		p.lastCR = b[i] == '\r'
		b = b[i+1:]
		if err := p.processLine(emit); err != nil {
			return err
		}
	}
	return nil
}

// Flush dispatches a final event that was not followed by a blank line (a
// stream that ended abruptly). Spec-conforming consumers discard such an
// event; Flush exists so callers can detect it.
func (p *Parser) Flush(emit func(Event) error) error {
	if len(p.line) > 0 {
		if err := p.processLine(emit); err != nil {
			return err
		}
	}
	if !p.hasData {
		return nil
	}
	return p.dispatch(emit)
}

func (p *Parser) processLine(emit func(Event) error) error {
	line := p.line
	p.line = p.line[:0]
	if len(line) == 0 {
		if !p.hasData {
			p.event = ""
			return nil
		}
		return p.dispatch(emit)
	}
	if line[0] == ':' {
		return nil
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.hasData = true
	case "event":
		p.event = string(value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.id = string(value)
		}
	}
	return nil
}

func (p *Parser) dispatch(emit func(Event) error) error {
	ev := Event{Event: p.event, Data: append([]byte{}, p.data...), ID: p.id}
	p.data = p.data[:0]
	p.hasData = false
	p.event = ""
	return emit(ev)
}

// Pending reports whether a partial line or an undispatched event is held:
// a stream that ends with Pending true was cut mid-event.
func (p *Parser) Pending() bool { return len(p.line) > 0 || p.hasData }

// AppendEvent writes one event: an "event:" line when name is set, one
// "data:" line (data must not hold a newline; JSON never does), and the
// blank line that dispatches it.
func AppendEvent(dst []byte, name string, data []byte) []byte {
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	dst = append(dst, "data: "...)
	dst = append(dst, data...)
	return append(dst, "\n\n"...)
}
