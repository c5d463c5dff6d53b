// Package chunk splits a document's text into passages for retrieval.
//
// The input is Markdown-flavoured plain text (rag converts HTML to it):
// ATX headings ("# Title" … "###### Deep") open sections, blank lines
// separate paragraphs, and fenced code blocks (``` or ~~~) are kept whole
// (headings and blank lines inside them mean nothing).
//
// Rules, in order of precedence:
//
//   - Every chunk is at most Size units long (runes, or estimated tokens).
//   - A chunk never spans two sections: a heading starts a new chunk
//     (headings with nothing under them yet stay with the next heading).
//   - Paragraphs are packed whole while they fit. A paragraph larger than
//     Size is cut at sentence ends, then at spaces, then between runes.
//   - A chunk continuing a section starts with up to Overlap units of the
//     previous chunk's tail, cut at a space so no word is broken.
//
// Nothing is dropped: the non-space runes of the input appear, in order,
// in the concatenated chunks (exactly once when Overlap is 0).
package chunk

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Unit is what Size and Overlap count.
type Unit string

const (
	// Chars counts Unicode code points.
	Chars Unit = "chars"
	// Tokens counts estimated LLM tokens (see EstimateTokens).
	Tokens Unit = "tokens"
)

// Defaults for the zero Options.
const (
	DefaultSizeChars  = 1200
	DefaultSizeTokens = 300
)

// Options configure a Splitter.
type Options struct {
	// Unit is what Size and Overlap count; "" means Chars.
	Unit Unit
	// Size is the largest chunk; 0 means DefaultSizeChars or
	// DefaultSizeTokens. It must be at least 8.
	Size int
	// Overlap is how much of the previous chunk's tail a chunk continuing
	// the same section repeats; at most Size/2. Negative means none; 0
	// means Size/8.
	Overlap int
}

// Chunk is one passage of a document.
type Chunk struct {
	// Text is the passage, headings included when the chunk opens a
	// section.
	Text string
	// Heading is the path of headings the passage sits under, outermost
	// first, joined by " > " ("" before the first heading).
	Heading string
	// Position is the chunk's index in the document, from 0.
	Position int
}

// Splitter splits texts with fixed options. It is safe for concurrent use.
type Splitter struct {
	o       Options
	measure func(string) int
}

// New validates o.
func New(o Options) (*Splitter, error) {
	var errs []error
	switch o.Unit {
	case "":
		o.Unit = Chars
	case Chars, Tokens:
	default:
		errs = append(errs, fmt.Errorf("chunk: unit %q: want chars or tokens", o.Unit))
	}
	if o.Size == 0 {
		o.Size = DefaultSizeChars
		if o.Unit == Tokens {
			o.Size = DefaultSizeTokens
		}
	}
	if o.Size < 8 {
		errs = append(errs, fmt.Errorf("chunk: size %d: want at least 8", o.Size))
	}
	switch {
	case o.Overlap < 0:
		o.Overlap = 0
	case o.Overlap == 0:
		o.Overlap = o.Size / 8
	case o.Overlap > o.Size/2:
		errs = append(errs, fmt.Errorf("chunk: overlap %d: want at most half the size (%d)", o.Overlap, o.Size/2))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Splitter{o: o, measure: utf8.RuneCountInString}
	if o.Unit == Tokens {
		s.measure = EstimateTokens
	}
	return s, nil
}

// Options returns the validated options, defaults filled in.
func (s *Splitter) Options() Options { return s.o }

// Measure is the length of text in the splitter's unit.
func (s *Splitter) Measure(text string) int { return s.measure(text) }

// EstimateTokens approximates how many tokens a BPE tokenizer such as
// OpenAI's produces for text, without its vocabulary: every run of letters
// and digits of a space-separated script counts one token per started four
// runes, every other non-space rune (punctuation, symbols, CJK and other
// scripts written without spaces) counts one, spaces count nothing. It is
// additive over text split at spaces.
func EstimateTokens(text string) int {
	var c counter
	for _, r := range text {
		c.add(r)
	}
	return c.total(Tokens)
}

// unspaced reports runes of scripts written without spaces between words,
// where a rune is about a token.
func unspaced(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Thai, unicode.Lao,
		unicode.Khmer, unicode.Myanmar, unicode.Tibetan)
}

// sep is what joins an atom to the one before it in the same chunk.
type sep string

const (
	sepPara  sep = "\n\n"
	sepLine  sep = "\n"
	sepSpace sep = " "
	sepNone  sep = ""
)

// atom is a piece of text the packer never cuts further.
type atom struct {
	text    string
	sep     sep
	heading bool
}

// Split cuts text into chunks.
func (s *Splitter) Split(text string) []Chunk {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	p := packer{s: s}
	var path []string // heading texts by level-1
	for _, b := range blocks(text) {
		if b.level > 0 {
			p.heading()
			if len(path) >= b.level {
				path = path[:b.level-1]
			}
			for len(path) < b.level-1 {
				path = append(path, "")
			}
			path = append(path, strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(b.text), "#")))
			p.path = joinPath(path)
		}
		for i, a := range s.atoms(b) {
			if i == 0 {
				a.sep = sepPara
			}
			p.add(a)
		}
	}
	p.flush(false)
	return p.out
}

func joinPath(path []string) string {
	parts := make([]string, 0, len(path))
	for _, h := range path {
		if h != "" {
			parts = append(parts, h)
		}
	}
	return strings.Join(parts, " > ")
}

// block is a heading (level 1..6), a paragraph or a fenced code block.
type block struct {
	text  string
	level int
	code  bool
}

// blocks splits text into headings, paragraphs and fenced code blocks.
func blocks(text string) []block {
	var out []block
	var para []string
	fence := ""
	var code []string
	endPara := func() {
		if len(para) > 0 {
			out = append(out, block{text: strings.Join(para, "\n")})
			para = nil
		}
	}
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			code = append(code, line)
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				out = append(out, block{text: strings.Join(code, "\n"), code: true})
				code, fence = nil, ""
			}
			continue
		}
		switch {
		case trimmed == "":
			endPara()
		case strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~"):
			endPara()
			fence = trimmed[:3]
			code = []string{line}
		case headingLevel(trimmed) > 0:
			endPara()
			out = append(out, block{text: trimmed, level: headingLevel(trimmed)})
		default:
			para = append(para, line)
		}
	}
	endPara()
	if len(code) > 0 { // unterminated fence: keep what there is
		out = append(out, block{text: strings.Join(code, "\n"), code: true})
	}
	return out
}

// headingLevel is the ATX heading level of a trimmed line, or 0.
func headingLevel(line string) int {
	n := 0
	for n < len(line) && line[n] == '#' {
		n++
	}
	if n == 0 || n > 6 || (n < len(line) && line[n] != ' ' && line[n] != '\t') {
		return 0
	}
	return n
}

// atoms cuts a block into pieces that each fit in Size.
func (s *Splitter) atoms(b block) []atom {
	text := strings.TrimRight(b.text, " \t\n")
	if !b.code {
		text = strings.TrimLeft(text, " \t\n")
	}
	if text == "" {
		return nil
	}
	if s.measure(text) <= s.o.Size {
		return []atom{{text: text, heading: b.level > 0}}
	}
	var out []atom
	if b.code {
		for _, line := range strings.Split(text, "\n") {
			out = append(out, s.cutWords(line, sepLine)...)
		}
		return out
	}
	for _, sentence := range sentences(text) {
		out = append(out, s.cutWords(sentence, sepSpace)...)
	}
	for i := range out {
		out[i].heading = b.level > 0
	}
	return out
}

// sentences splits a paragraph after sentence-ending punctuation followed
// by a space (or directly after CJK full stops), folding line breaks.
func sentences(text string) []string {
	var out []string
	start := 0
	prevEnd := false
	for i, r := range text {
		if prevEnd && unicode.IsSpace(r) {
			if s := strings.TrimSpace(text[start:i]); s != "" {
				out = append(out, s)
			}
			start = i
		}
		prevEnd = false
		switch r {
		case '.', '!', '?', ';':
			prevEnd = true
		case '。', '！', '？', '；':
			if s := strings.TrimSpace(text[start : i+utf8.RuneLen(r)]); s != "" {
				out = append(out, s)
			}
			start = i + utf8.RuneLen(r)
		}
	}
	if s := strings.TrimSpace(text[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// cutWords returns text as one atom when it fits, else as space-separated
// word groups, cutting words longer than Size between runes.
func (s *Splitter) cutWords(text string, first sep) []atom {
	if s.measure(text) <= s.o.Size {
		return []atom{{text: text, sep: first}}
	}
	var out []atom
	for i, w := range strings.Fields(text) {
		sp := sepSpace
		if i == 0 {
			sp = first
		}
		if s.measure(w) <= s.o.Size {
			out = append(out, atom{text: w, sep: sp})
			continue
		}
		for j, piece := range s.cutRunes(w) {
			if j > 0 {
				sp = sepNone
			}
			out = append(out, atom{text: piece, sep: sp})
		}
	}
	return out
}

// cutRunes splits a word into the longest prefixes that fit, in one pass.
func (s *Splitter) cutRunes(w string) []string {
	var out []string
	var c counter
	start := 0
	for i, r := range w {
		if c.with(r, s.o.Unit) > s.o.Size && i > start {
			out = append(out, w[start:i])
			start, c = i, counter{}
		}
		c.add(r)
	}
	return append(out, w[start:])
}

// counter measures a string rune by rune, as EstimateTokens or as a rune
// count.
type counter struct{ runes, tokens, run int }

func (c *counter) add(r rune) {
	c.runes++
	switch {
	case (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)) && !unspaced(r):
		c.run++
		return
	case unicode.IsSpace(r):
	default:
		c.tokens++
	}
	c.tokens += (c.run + 3) / 4
	c.run = 0
}

func (c counter) total(u Unit) int {
	if u == Tokens {
		return c.tokens + (c.run+3)/4
	}
	return c.runes
}

// with is the measure after adding r.
func (c counter) with(r rune, u Unit) int {
	c.add(r)
	return c.total(u)
}

// packer accumulates atoms into chunks.
type packer struct {
	s    *Splitter
	path string
	out  []Chunk
	// cur is the chunk being built; size its length in units (the sum of
	// its parts and separators, never less than its measure); body tells
	// whether it holds more than headings.
	cur      strings.Builder
	size     int
	body     bool
	curPath  string
	havePath bool
	// carry is the previous chunk's tail, to open the next chunk of the
	// same section.
	carry string
}

func (p *packer) sepSize(sp sep) int {
	if p.s.o.Unit == Tokens {
		return 0
	}
	return len(sp)
}

// heading starts a new section: the chunk so far ends unless it only
// holds headings, and nothing carries over.
func (p *packer) heading() {
	if p.body {
		p.flush(false)
	}
	p.carry = ""
}

func (p *packer) add(a atom) {
	n := p.s.measure(a.text)
	if p.cur.Len() > 0 && p.size+p.sepSize(a.sep)+n > p.s.o.Size {
		p.flush(true)
	}
	if p.cur.Len() == 0 && p.carry != "" && !a.heading {
		// Open with the carried tail when it leaves room for the atom.
		if c := p.s.measure(p.carry); c+p.sepSize(a.sep)+n <= p.s.o.Size {
			p.cur.WriteString(p.carry)
			p.size = c
		}
	}
	p.carry = ""
	if p.cur.Len() > 0 {
		p.cur.WriteString(string(a.sep))
		p.size += p.sepSize(a.sep)
	}
	p.cur.WriteString(a.text)
	p.size += n
	if !a.heading {
		p.body = true
		if !p.havePath {
			p.curPath, p.havePath = p.path, true
		}
	}
}

// flush emits the current chunk. With carry, the next chunk may start
// with the tail of this one (the section continues).
func (p *packer) flush(carry bool) {
	text := p.cur.String()
	p.cur.Reset()
	if strings.TrimSpace(text) != "" {
		path := p.curPath
		if !p.havePath {
			path = p.path
		}
		p.out = append(p.out, Chunk{Text: text, Heading: path, Position: len(p.out)})
	}
	p.size, p.body, p.havePath, p.carry = 0, false, false, ""
	if carry && p.s.o.Overlap > 0 {
		p.carry = p.tail(text)
	}
}

// tail is the longest suffix of text that starts after a space and
// measures at most Overlap ("" when there is none).
func (p *packer) tail(text string) string {
	best := ""
	for i := len(text) - 1; i > 0; i-- {
		if text[i-1] != ' ' && text[i-1] != '\n' && text[i-1] != '\t' {
			continue
		}
		cand := strings.TrimLeft(text[i:], " \n\t")
		if cand == "" {
			continue
		}
		if p.s.measure(cand) > p.s.o.Overlap {
			break
		}
		best = cand
	}
	return best
}
