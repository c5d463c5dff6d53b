package wire

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/semcache/semcache/cache"
)

// RenderOptions say how stored answers are replayed as a reply.
type RenderOptions struct {
	// Now is the reply's creation time.
	Now time.Time
	// ZeroUsage reports the usage of stored answers as zero: no token was
	// spent on them. The usage they had goes into the marker's
	// saved_usage, in the endpoint's own usage layout.
	ZeroUsage bool
	// Fresh marks, per answer, the ones fetched from upstream for this
	// reply (a batch's partial hit): their usage counts as spent whatever
	// ZeroUsage says. nil: every answer is stored.
	Fresh []bool
	// Marker, when set, goes into the reply as its top-level "semcache"
	// member: of the JSON object, or of the last event of a stream that
	// carries the whole answer (the last chat or completions chunk before
	// [DONE], the response object of response.completed). ZeroUsage
	// without a Marker adds a marker that holds saved_usage only.
	Marker *Marker
}

// Marker tells a client that its answer came from the cache, and from
// which entry. Its JSON is the reply's "semcache" member.
type Marker struct {
	// Hit is "exact", "semantic" or "partial" (a batch, some items
	// fetched).
	Hit string `json:"hit"`
	// Entry is the entry served (X-Semcache-Entry); Entries those of a
	// batch, in input order ("" for an item fetched afresh).
	Entry   string   `json:"entry,omitempty"`
	Entries []string `json:"entries,omitempty"`
	// Age is the entry's age in seconds (the oldest of a batch's).
	Age int64 `json:"age"`
	// Similarity and Score are a semantic hit's cosine similarity and the
	// verifier's calibrated score.
	Similarity *float64 `json:"similarity,omitempty"`
	Score      *float64 `json:"score,omitempty"`
	// Variant is which of the entry's Variants stored answers was served
	// (1-based), when it keeps more than one.
	Variant  int `json:"variant,omitempty"`
	Variants int `json:"variants,omitempty"`
	// Sources are the RAG passages the answer was built with.
	Sources []string `json:"sources,omitempty"`
	// SavedUsage is the usage the stored answers reported when they were
	// fetched (with ZeroUsage): the tokens this hit saved.
	SavedUsage json.RawMessage `json:"saved_usage,omitempty"`
}

// Counted reports whether the usage of answer i is reported as spent.
func (o *RenderOptions) Counted(i int) bool {
	return !o.ZeroUsage || i < len(o.Fresh) && o.Fresh[i]
}

// MarkerJSON returns the "semcache" member's value, with saved as its
// saved_usage when usage is zeroed; nil when the reply carries none.
func (o *RenderOptions) MarkerJSON(saved json.RawMessage) []byte {
	if o.Marker == nil && !o.ZeroUsage {
		return nil
	}
	m := Marker{}
	if o.Marker != nil {
		m = *o.Marker
	}
	if o.ZeroUsage && len(saved) > 0 {
		m.SavedUsage = saved
	}
	if m.Hit == "" {
		// Only saved_usage: no hit kind to report.
		b, _ := json.Marshal(struct {
			SavedUsage json.RawMessage `json:"saved_usage,omitempty"`
		}{m.SavedUsage})
		return b
	}
	b, _ := json.Marshal(m) // cannot fail: plain fields, valid raw JSON
	return b
}

// AppendMember adds `"semcache":marker` as the last member of the JSON
// object obj (nil marker: obj unchanged).
func AppendMember(obj, marker []byte) []byte {
	if marker == nil {
		return obj
	}
	trimmed := bytes.TrimRight(obj, " \t\r\n")
	if len(trimmed) < 2 || trimmed[len(trimmed)-1] != '}' {
		return obj
	}
	inner := bytes.TrimRight(trimmed[:len(trimmed)-1], " \t\r\n")
	out := make([]byte, 0, len(trimmed)+len(marker)+16)
	out = append(out, inner...)
	if len(inner) > 0 && inner[len(inner)-1] != '{' {
		out = append(out, ',')
	}
	out = append(out, `"semcache":`...)
	out = append(out, marker...)
	return append(out, '}')
}

// ZeroNumbers returns the JSON value raw with every number replaced by 0
// (a usage object with nothing spent, in the same layout); raw itself
// when it is not JSON.
func ZeroNumbers(raw json.RawMessage) json.RawMessage {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return raw
	}
	b, err := json.Marshal(zero(v))
	if err != nil {
		return raw
	}
	return b
}

func zero(v any) any {
	switch x := v.(type) {
	case json.Number:
		return 0
	case map[string]any:
		for k, y := range x {
			x[k] = zero(y)
		}
	case []any:
		for i, y := range x {
			x[i] = zero(y)
		}
	}
	return v
}

// MaxReplayPieces bounds the content events of one replayed stream: a
// longer answer's pieces are merged, evenly, down to this many.
const MaxReplayPieces = 4096

// MaxWordBytes bounds a word-sized piece (a long run without spaces, or
// text in a script written without them, is cut at rune boundaries).
const MaxWordBytes = 24

// Pieces cuts an answer's text into the pieces a replayed stream sends,
// one content event each: the pieces the upstream streamed it in (chunks,
// when they add up to text and fall on rune boundaries), else word-sized
// pieces (each word with the spaces before it) — never one giant delta.
// A text that is not empty gives at least one piece.
func Pieces(text string, chunks cache.Chunks) []string {
	if text == "" {
		return nil
	}
	out := fromChunks(text, chunks)
	if out == nil {
		out = Words(text)
	}
	return merge(out, MaxReplayPieces)
}

func fromChunks(text string, chunks cache.Chunks) []string {
	if len(chunks) == 0 {
		return nil
	}
	lens, ok := chunks.Lens()
	if !ok {
		return nil
	}
	out := make([]string, 0, len(lens))
	rest := text
	for _, n := range lens {
		if n > len(rest) || n < len(rest) && !utf8.RuneStart(rest[n]) {
			return nil
		}
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	if rest != "" {
		return nil
	}
	return out
}

// Words cuts text into word-sized pieces: each is the spaces before a
// word and the word, at most MaxWordBytes long (cut at rune boundaries);
// spaces at the end join the last piece.
func Words(text string) []string {
	var out []string
	for start := 0; start < len(text); {
		i := start
		for i < len(text) {
			r, n := utf8.DecodeRuneInString(text[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += n
		}
		for i < len(text) && i-start < MaxWordBytes {
			r, n := utf8.DecodeRuneInString(text[i:])
			if unicode.IsSpace(r) {
				break
			}
			if i+n-start > MaxWordBytes && i > start {
				break
			}
			i += n
		}
		if i == start { // cannot happen: every rune advances i
			i = len(text)
		}
		if len(out) > 0 && allSpace(text[start:i]) {
			out[len(out)-1] += text[start:i]
		} else {
			out = append(out, text[start:i])
		}
		start = i
	}
	return out
}

func allSpace(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// merge joins neighbouring pieces so that at most max remain.
func merge(pieces []string, max int) []string {
	if len(pieces) <= max {
		return pieces
	}
	per := (len(pieces) + max - 1) / max
	out := make([]string, 0, max)
	for i := 0; i < len(pieces); i += per {
		j := min(i+per, len(pieces))
		n := 0
		for _, p := range pieces[i:j] {
			n += len(p)
		}
		b := make([]byte, 0, n)
		for _, p := range pieces[i:j] {
			b = append(b, p...)
		}
		out = append(out, string(b))
	}
	return out
}
