package rag

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Errors a document can fail with; match them with errors.Is.
var (
	// ErrUnsupported: the file type is not one rag can read.
	ErrUnsupported = errors.New("rag: unsupported file type")
	// ErrEmpty: the document holds no text.
	ErrEmpty = errors.New("rag: empty document")
	// ErrTooLarge: the document exceeds the size limit.
	ErrTooLarge = errors.New("rag: document too large")
	// ErrInvalid: a malformed document (bad id, not UTF-8 text, bad JSON).
	ErrInvalid = errors.New("rag: invalid document")
)

// Format is how a document's content is written.
type Format string

// Formats rag reads.
const (
	Markdown Format = "markdown"
	Text     Format = "text"
	HTML     Format = "html"
)

// ParseFormat accepts a format name or a common alias ("md", "txt",
// "htm"); "" is "".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return "", nil
	case "markdown", "md":
		return Markdown, nil
	case "text", "txt", "plain":
		return Text, nil
	case "html", "htm":
		return HTML, nil
	}
	return "", fmt.Errorf("%w: format %q (want markdown, text or html)", ErrInvalid, s)
}

// Document is one document to ingest.
type Document struct {
	// ID names the document within its collection; re-ingesting the same
	// ID replaces it.
	ID string `json:"id"`
	// Source is where it came from (path or URL), shown with passages.
	Source string `json:"source,omitempty"`
	// Title defaults to the first heading (Markdown, HTML <title> or <h1>)
	// or the base name of the source.
	Title   string `json:"title,omitempty"`
	Content string `json:"content"`
	// Format defaults to the one the ID's extension names, else text.
	Format Format `json:"format,omitempty"`
}

// fileFormats maps file extensions to what they hold; "json" means JSON
// documents (an object, an array of objects, or one object per line).
var fileFormats = map[string]string{
	".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text",
	".html": "html", ".htm": "html", ".jsonl": "json", ".ndjson": "json", ".json": "json",
}

// SupportedExtensions lists the file extensions LoadFile reads.
func SupportedExtensions() []string {
	return []string{".md", ".markdown", ".txt", ".text", ".html", ".htm", ".jsonl", ".ndjson", ".json"}
}

// LoadFile reads a file into documents: one for Markdown, text and HTML
// files, one per object for JSON files. id names the document(s); JSON
// objects without an "id" get id#N (N counts from 1). Files larger than
// maxBytes (> 0) are refused.
func LoadFile(file, id string, maxBytes int64) ([]Document, error) {
	kind, ok := fileFormats[strings.ToLower(filepath.Ext(file))]
	if !ok {
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnsupported, filepath.Ext(file), strings.Join(SupportedExtensions(), ", "))
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("rag: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("rag: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%w: %s is a directory", ErrInvalid, file)
	}
	if maxBytes > 0 && st.Size() > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, st.Size(), maxBytes)
	}
	r := io.Reader(f)
	if maxBytes > 0 {
		r = io.LimitReader(f, maxBytes+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("rag: read: %w", err)
	}
	if maxBytes > 0 && int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, maxBytes)
	}
	return Parse(kind, id, filepath.ToSlash(file), data)
}

// Parse turns file contents into documents. kind is a Format or "json".
func Parse(kind, id, source string, data []byte) ([]Document, error) {
	if kind == "json" {
		return parseJSON(id, source, data)
	}
	f, err := ParseFormat(kind)
	if err != nil {
		return nil, err
	}
	return []Document{{ID: id, Source: source, Content: string(data), Format: f}}, nil
}

// KindOf is the kind Parse needs for a file name ("" when unsupported).
func KindOf(name string) string { return fileFormats[strings.ToLower(path.Ext(name))] }

// jsonDoc is one JSON document; text and url are accepted for content and
// source.
type jsonDoc struct {
	ID      string `json:"id"`
	Source  string `json:"source"`
	URL     string `json:"url"`
	Title   string `json:"title"`
	Content string `json:"content"`
	Text    string `json:"text"`
	Format  string `json:"format"`
}

func parseJSON(id, source string, data []byte) ([]Document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []Document
	add := func(raw json.RawMessage) error {
		var d jsonDoc
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("%w: document %d: want an object with id, title, content, source: %w", ErrInvalid, len(out)+1, err)
		}
		f, err := ParseFormat(d.Format)
		if err != nil {
			return fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		doc := Document{ID: d.ID, Source: d.Source, Title: d.Title, Content: d.Content, Format: f}
		if doc.ID == "" {
			doc.ID = fmt.Sprintf("%s#%d", id, len(out)+1)
		}
		if doc.Source == "" {
			doc.Source = d.URL
		}
		if doc.Source == "" {
			doc.Source = source
		}
		if doc.Content == "" {
			doc.Content = d.Text
		}
		out = append(out, doc)
		return nil
	}
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: JSON at byte %d: %w", ErrInvalid, dec.InputOffset(), err)
		}
		if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '[' {
			var items []json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
			}
			for _, it := range items {
				if err := add(it); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := add(raw); err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no JSON documents", ErrEmpty)
	}
	return out, nil
}

// extracted is a document's text ready for chunking.
type extracted struct {
	text  string
	title string
}

// extract converts a document's content to Markdown-flavoured text and
// finds its title.
func extract(d Document) (extracted, error) {
	if !utf8.ValidString(d.Content) {
		return extracted{}, fmt.Errorf("%w: content is not UTF-8 text", ErrInvalid)
	}
	format, err := ParseFormat(string(d.Format))
	if err != nil {
		return extracted{}, err
	}
	if format == "" {
		switch KindOf(d.ID) {
		case "markdown":
			format = Markdown
		case "html":
			format = HTML
		default:
			format = Text
		}
	}
	var e extracted
	switch format {
	case Markdown:
		e.text, e.title = markdownText(d.Content)
	case HTML:
		e.text, e.title = htmlText(d.Content)
	case Text:
		e.text = d.Content
	default:
		return extracted{}, fmt.Errorf("%w: format %q", ErrInvalid, format)
	}
	if strings.TrimSpace(e.text) == "" {
		return extracted{}, ErrEmpty
	}
	if d.Title != "" {
		e.title = d.Title
	}
	if e.title == "" {
		base := d.Source
		if base == "" {
			base = d.ID
		}
		e.title = strings.TrimSuffix(path.Base(filepath.ToSlash(base)), path.Ext(base))
	}
	e.title = strings.Join(strings.Fields(e.title), " ")
	return e, nil
}

var (
	frontMatter  = regexp.MustCompile(`(?s)\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|\z)`)
	frontTitle   = regexp.MustCompile(`(?m)^title:[ \t]*["']?(.*?)["']?[ \t]*$`)
	firstHeading = regexp.MustCompile(`(?m)^[ \t]{0,3}#[ \t]+(.+?)[ \t#]*$`)
)

// markdownText drops YAML front matter and finds the title (front
// matter's title:, else the first level-1 heading).
func markdownText(s string) (text, title string) {
	if m := frontMatter.FindStringSubmatchIndex(s); m != nil {
		if t := frontTitle.FindStringSubmatch(s[m[2]:m[3]]); t != nil {
			title = t[1]
		}
		s = s[m[1]:]
	}
	if title == "" {
		if m := firstHeading.FindStringSubmatch(s); m != nil {
			title = m[1]
		}
	}
	return s, title
}

// htmlText renders an HTML page as Markdown-flavoured text: headings
// become ATX headings, block elements paragraphs, list items "- " lines;
// scripts, styles and navigation are dropped.
func htmlText(s string) (text, title string) {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil { // html.Parse only fails on reader errors
		return s, ""
	}
	w := htmlWriter{}
	w.walk(doc)
	text = strings.TrimSpace(blankRuns.ReplaceAllString(w.b.String(), "\n\n"))
	title = w.title
	if title == "" {
		title = w.h1
	}
	return text, strings.TrimSpace(title)
}

var blankRuns = regexp.MustCompile(`[ \t]*\n(?:[ \t]*\n)+`)

type htmlWriter struct {
	b         strings.Builder
	title, h1 string
	pre       int
}

var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true, atom.Nav: true,
	atom.Svg: true, atom.Iframe: true, atom.Object: true, atom.Canvas: true, atom.Button: true, atom.Form: true,
}

var blockElems = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Main: true, atom.Header: true,
	atom.Footer: true, atom.Aside: true, atom.Blockquote: true, atom.Ul: true, atom.Ol: true, atom.Table: true,
	atom.Tr: true, atom.Dl: true, atom.Dt: true, atom.Dd: true, atom.Figure: true, atom.Figcaption: true,
	atom.Pre: true, atom.Hr: true, atom.Details: true, atom.Summary: true, atom.Address: true,
}

var headingLevels = map[atom.Atom]int{atom.H1: 1, atom.H2: 2, atom.H3: 3, atom.H4: 4, atom.H5: 5, atom.H6: 6}

func (w *htmlWriter) walk(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		if w.pre > 0 {
			w.b.WriteString(n.Data)
			return
		}
		w.inline(n.Data)
		return
	case html.ElementNode:
		if skipped[n.DataAtom] {
			return
		}
		switch {
		case n.DataAtom == atom.Title:
			if w.title == "" {
				w.title = strings.Join(strings.Fields(nodeText(n)), " ")
			}
			return
		case n.DataAtom == atom.Head:
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && c.DataAtom == atom.Title {
					w.walk(c)
				}
			}
			return
		case headingLevels[n.DataAtom] > 0:
			t := strings.Join(strings.Fields(nodeText(n)), " ")
			if t == "" {
				return
			}
			if n.DataAtom == atom.H1 && w.h1 == "" {
				w.h1 = t
			}
			w.b.WriteString("\n\n" + strings.Repeat("#", headingLevels[n.DataAtom]) + " " + t + "\n\n")
			return
		case n.DataAtom == atom.Br:
			w.b.WriteString("\n")
			return
		case n.DataAtom == atom.Li:
			w.b.WriteString("\n- ")
		case n.DataAtom == atom.Td || n.DataAtom == atom.Th:
			w.b.WriteString(" | ")
		case n.DataAtom == atom.Pre:
			w.pre++
			defer func() { w.pre-- }()
			w.b.WriteString("\n\n")
		case blockElems[n.DataAtom]:
			w.b.WriteString("\n\n")
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c)
	}
	if n.Type == html.ElementNode && blockElems[n.DataAtom] {
		w.b.WriteString("\n\n")
	}
}

// inline writes text with white space collapsed.
func (w *htmlWriter) inline(s string) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		if s != "" {
			w.b.WriteString(" ")
		}
		return
	}
	if startsSpace(s) {
		w.b.WriteString(" ")
	}
	w.b.WriteString(strings.Join(fields, " "))
	if endsSpace(s) {
		w.b.WriteString(" ")
	}
}

func startsSpace(s string) bool { return s != "" && strings.TrimLeft(s, " \t\n\r\f") != s }
func endsSpace(s string) bool   { return s != "" && strings.TrimRight(s, " \t\n\r\f") != s }

func nodeText(n *html.Node) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		if n.Type == html.ElementNode && skipped[n.DataAtom] {
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return b.String()
}
