package embed

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Defaults of ClipOptions. A long text keeps its first 2,048 and its last
// 2,048 runes:
//
//   - The head covers the first 128 tokens of embed/use whatever the text:
//     no USE-lite piece is longer than 16 runes and the model reads 128
//     tokens, so clipping does not change a USE-lite vector (except after
//     long runs of characters the vocabulary lacks, which collapse into
//     one token).
//   - The tail keeps the question: the similarity tier embeds the earlier
//     turns first and the prompt last (cache.EmbedText), and RAG-style
//     prompts put their documents before the question. 2,048 runes are
//     some 350 English words, room for a question and its instructions.
//   - Ordinary prompts are far shorter and never clipped (the public pair
//     data tops out at 209 runes, conversation context included), so their
//     vectors do not change.
//   - The work is bounded: the lexical embedder needs some 100 µs and a
//     few hundred KiB of scratch for 4 Ki runes, whatever the input size.
const (
	DefaultClipHeadRunes = 2048
	DefaultClipTailRunes = 2048
)

// clipSeparator joins the head and the tail of a clipped text. It holds no
// word character, so no embedder reads a word into it.
const clipSeparator = " … "

// sepRunes is the length of clipSeparator in runes.
const sepRunes = 3

// wordSlack is how far (in runes) a cut moves to land between words.
const wordSlack = 32

// ClipOptions bounds the text an embedder reads. The bound is in runes
// (Unicode code points), not tokens: counting runes needs no tokenizer, is
// the same for every embedder, and finding the cut touches only the runes
// kept (O(HeadRunes+TailRunes), whatever the text's size), while counting
// tokens would mean tokenizing the whole text, the cost the bound exists
// to avoid.
type ClipOptions struct {
	// HeadRunes and TailRunes are how many runes of the start and of the
	// end of a long text are kept. Zero means DefaultClipHeadRunes and
	// DefaultClipTailRunes; a negative value is an error.
	HeadRunes, TailRunes int
}

func (o ClipOptions) withDefaults() ClipOptions {
	if o.HeadRunes == 0 {
		o.HeadRunes = DefaultClipHeadRunes
	}
	if o.TailRunes == 0 {
		o.TailRunes = DefaultClipTailRunes
	}
	return o
}

// Validate reports every invalid field.
func (o ClipOptions) Validate() error {
	var errs []error
	if o.HeadRunes < 0 {
		errs = append(errs, fmt.Errorf("embed: clip HeadRunes %d is negative", o.HeadRunes))
	}
	if o.TailRunes < 0 {
		errs = append(errs, fmt.Errorf("embed: clip TailRunes %d is negative", o.TailRunes))
	}
	return errors.Join(errs...)
}

// MaxRunes is the longest text (in runes) Clip leaves unchanged:
// HeadRunes + TailRunes plus the separator's 3 runes, so a clipped text is
// never clipped again.
func (o ClipOptions) MaxRunes() int {
	o = o.withDefaults()
	return o.HeadRunes + sepRunes + o.TailRunes
}

// Clip bounds text for embedding. A text of at most o.MaxRunes() runes is
// returned unchanged (and false). A longer one becomes its first HeadRunes
// runes, " … ", and its last TailRunes runes (true), each cut moved back
// into the kept part to the nearest whitespace when one is within 32 runes,
// so no word is split. Invalid UTF-8 bytes count as one rune each. Clip
// reads only the runes it keeps and a few next to the cuts: its cost does
// not depend on the length of text. Clip(Clip(t)) = Clip(t).
//
// The exact tier is keyed on the whole request; Clip only shapes what the
// similarity tier embeds.
func Clip(text string, o ClipOptions) (string, bool) {
	o = o.withDefaults()
	headEnd, tailStart, ok := clipCuts(text, max(o.HeadRunes, 0), max(o.TailRunes, 0))
	if !ok {
		return text, false
	}
	return text[:headEnd] + clipSeparator + text[tailStart:], true
}

// clipCuts returns the byte offsets where the kept head ends and the kept
// tail starts, or false when text is short enough to keep whole.
func clipCuts(text string, head, tail int) (headEnd, tailStart int, ok bool) {
	if len(text) <= head+sepRunes+tail {
		return 0, 0, false // fewer bytes than the limit: fewer runes too
	}
	i := 0
	for n := 0; n < head && i < len(text); n++ {
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
	}
	j := len(text)
	for n := 0; n < tail && j > i; n++ {
		_, size := utf8.DecodeLastRuneInString(text[:j])
		j -= size
	}
	// Keep the text whole unless more than the separator's worth lies
	// between the two parts.
	mid := 0
	for k := i; k < j && mid <= sepRunes; mid++ {
		_, size := utf8.DecodeRuneInString(text[k:])
		k += size
	}
	if mid <= sepRunes {
		return 0, 0, false
	}
	return wordEnd(text, i), wordStart(text, j), true
}

// wordEnd moves a head cut at i back to the start of the whitespace before
// the word it splits, if that is within wordSlack runes.
func wordEnd(text string, i int) int {
	if r, _ := utf8.DecodeRuneInString(text[i:]); unicode.IsSpace(r) {
		return i
	}
	k := i
	for range wordSlack {
		if k == 0 {
			break
		}
		r, size := utf8.DecodeLastRuneInString(text[:k])
		if unicode.IsSpace(r) {
			return k - size
		}
		k -= size
	}
	return i
}

// wordStart moves a tail cut at j forward past the whitespace after the
// word it splits, if that is within wordSlack runes.
func wordStart(text string, j int) int {
	if r, _ := utf8.DecodeLastRuneInString(text[:j]); unicode.IsSpace(r) {
		return j
	}
	k := j
	for range wordSlack {
		if k == len(text) {
			break
		}
		r, size := utf8.DecodeRuneInString(text[k:])
		k += size
		if unicode.IsSpace(r) {
			return k
		}
	}
	return j
}
