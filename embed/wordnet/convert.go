package wordnet

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// The WordNet database files (wndb(5WN)) the converter reads:
//
//	data.POS   one synset a line, at the byte offset that names it:
//	           "offset lex_filenum ss_type w_cnt(2 hex) word lex_id(hex)…
//	           p_cnt(3 dec) [symbol offset pos source/target(4 hex)]…
//	           [f_cnt + f_num w_num…] | gloss"; ss_type is n, v, a, s
//	           (adjective satellite) or r
//	index.POS  one lemma a line: "lemma pos synset_cnt p_cnt [symbol]…
//	           sense_cnt tagsense_cnt synset_offset…", the offsets in
//	           sense order (most frequent first)
//	POS.exc    "inflected base…", morphy's exception lists
//
// Lines starting with a space (the licence at the top of the data and
// index files) are not entries. Lemmas are lower case with "_" between
// the words of a collocation; the converter stores them with spaces.

// sourceFile names one of the source files by kind and part of speech.
type sourceFile struct {
	kind byte // 'd' data, 'i' index, 'e' exceptions
	pos  POS
}

// dataFileNames are the data and index files' names by part of speech.
var posFileNames = [numPOS]string{Noun: "noun", Verb: "verb", Adj: "adj", Adv: "adv"}

// convStats describes one conversion.
type convStats struct {
	Synsets    [numClasses]int
	Strings    int // lemmas and exception forms
	Lemmas     int
	Senses     int
	Exceptions int // exception entries kept
	ExcDropped int // exception entries whose base is no lemma of that part of speech
	Pointers   [numPointers]int
	Bytes      int64
}

func (s convStats) String() string {
	var total int
	for _, n := range s.Synsets {
		total += n
	}
	var ptrs int
	for _, n := range s.Pointers {
		ptrs += n
	}
	return fmt.Sprintf("%d synsets (%d nouns, %d verbs, %d adjectives of which %d satellites, %d adverbs), %d lemmas, %d senses, %d exception entries (%d dropped), %d pointers, %d strings: %.1f MB",
		total, s.Synsets[classNoun], s.Synsets[classVerb], s.Synsets[classAdj]+s.Synsets[classSat], s.Synsets[classSat], s.Synsets[classAdv],
		s.Lemmas, s.Senses, s.Exceptions, s.ExcDropped, ptrs, s.Strings, float64(s.Bytes)/1e6)
}

type rawPointer struct {
	kind   pointer
	file   POS // data file of the target
	offset uint32
}

type rawSynset struct {
	class  int
	file   POS
	offset uint32
	ptrs   []rawPointer
}

type rawSense struct {
	offsets   []uint32
	tagsenses int
}

// converter collects the source files, in any order, then writes the
// file.
type converter struct {
	synsets  []rawSynset
	byOffset [numPOS]map[uint32]int // data file → offset → index in synsets
	lemmas   map[string]*[numPOS]rawSense
	exc      [numPOS]map[string][]string
	seen     map[sourceFile]bool
	licence  []byte
}

func newConverter() *converter {
	c := &converter{lemmas: make(map[string]*[numPOS]rawSense), seen: make(map[sourceFile]bool)}
	for p := range numPOS {
		c.byOffset[p] = make(map[uint32]int)
		c.exc[p] = make(map[string][]string)
	}
	return c
}

// maxLineLen bounds one source line (the longest data.noun line is about
// 14 kB).
const maxLineLen = 1 << 20

// lines calls f with each line of r and its byte offset; lines starting
// with a space go to header instead (which may be nil).
func lines(r io.Reader, name string, header func(line string), f func(off int64, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineLen)
	sc.Split(splitLF)
	var off int64
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		start := off
		off += int64(len(line)) + 1
		if strings.HasSuffix(line, "\r") {
			return fmt.Errorf("wordnet: %s line %d ends in CR: the files must have Unix line ends", name, n)
		}
		if line == "" {
			continue
		}
		if line[0] == ' ' {
			if header != nil {
				header(line)
			}
			continue
		}
		if err := f(start, line); err != nil {
			return fmt.Errorf("wordnet: %s line %d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("wordnet: %s: %w", name, err)
	}
	return nil
}

// splitLF splits at '\n' only, so a CR before it stays visible.
func splitLF(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// add reads one source file.
func (c *converter) add(f sourceFile, r io.Reader) error {
	if c.seen[f] {
		return fmt.Errorf("wordnet: %s read twice", f.name())
	}
	c.seen[f] = true
	switch f.kind {
	case 'd':
		var licence []string
		err := lines(r, f.name(), func(l string) { licence = append(licence, l) }, func(off int64, line string) error {
			return c.dataLine(f.pos, off, line)
		})
		if err == nil && c.licence == nil && len(licence) > 0 {
			c.licence = licenceText(licence)
		}
		return err
	case 'i':
		return lines(r, f.name(), nil, func(_ int64, line string) error { return c.indexLine(f.pos, line) })
	case 'e':
		return lines(r, f.name(), nil, func(_ int64, line string) error { return c.excLine(f.pos, line) })
	}
	return fmt.Errorf("wordnet: unknown source file kind %q", f.kind)
}

func (f sourceFile) name() string {
	switch f.kind {
	case 'd':
		return "data." + posFileNames[f.pos]
	case 'i':
		return "index." + posFileNames[f.pos]
	}
	return posFileNames[f.pos] + ".exc"
}

// licenceText strips the header lines' indentation and line numbers
// ("  12 use or for distribution.  ").
func licenceText(header []string) []byte {
	var b bytes.Buffer
	for _, l := range header {
		l = strings.TrimLeft(l, " ")
		if i := strings.IndexByte(l, ' '); i > 0 {
			if _, err := strconv.Atoi(l[:i]); err == nil {
				l = l[i+1:]
			}
		} else if _, err := strconv.Atoi(l); err == nil {
			l = ""
		}
		b.WriteString(strings.TrimRight(l, " "))
		b.WriteByte('\n')
	}
	return bytes.TrimSpace(b.Bytes())
}

func posOfLetter(c string) (POS, bool) {
	switch c {
	case "n":
		return Noun, true
	case "v":
		return Verb, true
	case "a", "s":
		return Adj, true
	case "r":
		return Adv, true
	}
	return 0, false
}

// fields is a cursor over a line's space-separated fields.
type fields struct {
	f []string
	i int
}

func (fs *fields) next(what string) (string, error) {
	if fs.i >= len(fs.f) {
		return "", fmt.Errorf("line ends before the %s", what)
	}
	fs.i++
	return fs.f[fs.i-1], nil
}

func (fs *fields) number(what string, base, limit int) (int, error) {
	s, err := fs.next(what)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(s, base, 32)
	if err != nil || int(n) > limit {
		return 0, fmt.Errorf("%s %q is not a number up to %d", what, s, limit)
	}
	return int(n), nil
}

const maxOffset = 1<<32 - 1

func (c *converter) dataLine(file POS, off int64, line string) error {
	fs := fields{f: strings.Fields(line)}
	offset, err := fs.number("synset offset", 10, maxOffset)
	if err != nil {
		return err
	}
	if int64(offset) != off {
		return fmt.Errorf("synset offset %d, but the line starts at byte %d", offset, off)
	}
	if _, err := fs.number("lex_filenum", 10, 99); err != nil {
		return err
	}
	ssType, err := fs.next("ss_type")
	if err != nil {
		return err
	}
	class := -1
	switch {
	case ssType == "n" && file == Noun:
		class = classNoun
	case ssType == "v" && file == Verb:
		class = classVerb
	case ssType == "a" && file == Adj:
		class = classAdj
	case ssType == "s" && file == Adj:
		class = classSat
	case ssType == "r" && file == Adv:
		class = classAdv
	default:
		return fmt.Errorf("ss_type %q in data.%s", ssType, posFileNames[file])
	}
	words, err := fs.number("w_cnt", 16, 255)
	if err != nil {
		return err
	}
	if words == 0 {
		return errors.New("synset without words")
	}
	for range words {
		if _, err := fs.next("word"); err != nil {
			return err
		}
		if _, err := fs.number("lex_id", 16, 15); err != nil {
			return err
		}
	}
	nptr, err := fs.number("p_cnt", 10, 999)
	if err != nil {
		return err
	}
	s := rawSynset{class: class, file: file, offset: uint32(offset)}
	for range nptr {
		sym, err := fs.next("pointer symbol")
		if err != nil {
			return err
		}
		target, err := fs.number("pointer offset", 10, maxOffset)
		if err != nil {
			return err
		}
		ps, err := fs.next("pointer part of speech")
		if err != nil {
			return err
		}
		tp, ok := posOfLetter(ps)
		if !ok {
			return fmt.Errorf("pointer part of speech %q", ps)
		}
		st, err := fs.next("pointer source/target")
		if err != nil {
			return err
		}
		if _, err := strconv.ParseUint(st, 16, 16); err != nil || len(st) != 4 {
			return fmt.Errorf("pointer source/target %q, want 4 hex digits", st)
		}
		if kind, ok := pointerSymbols[sym]; ok {
			s.ptrs = append(s.ptrs, rawPointer{kind: kind, file: tp, offset: uint32(target)})
		}
	}
	if file == Verb {
		frames, err := fs.number("f_cnt", 10, 99)
		if err != nil {
			return err
		}
		for range frames {
			if plus, err := fs.next("frame"); err != nil || plus != "+" {
				return fmt.Errorf("verb frame starts with %q, want \"+\"", plus)
			}
			if _, err := fs.number("f_num", 10, 99); err != nil {
				return err
			}
			if _, err := fs.number("w_num", 16, 255); err != nil {
				return err
			}
		}
	}
	if bar, err := fs.next("gloss"); err != nil || bar != "|" {
		return fmt.Errorf("found %q after the pointers, want \"|\" and the gloss", bar)
	}
	if _, dup := c.byOffset[file][uint32(offset)]; dup {
		return fmt.Errorf("synset offset %d twice", offset)
	}
	c.byOffset[file][uint32(offset)] = len(c.synsets)
	c.synsets = append(c.synsets, s)
	return nil
}

// lemmaString turns a source lemma ("heart_rate") into the stored form
// ("heart rate"), checking it.
func lemmaString(s string) (string, error) {
	if s == "" || len(s) > maxStringLen || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return "", fmt.Errorf("lemma %q: want 1..%d bytes, words joined by single underscores", s, maxStringLen)
	}
	return strings.ToLower(strings.ReplaceAll(s, "_", " ")), nil
}

func (c *converter) indexLine(file POS, line string) error {
	fs := fields{f: strings.Fields(line)}
	raw, _ := fs.next("lemma")
	lemma, err := lemmaString(raw)
	if err != nil {
		return err
	}
	ps, err := fs.next("pos")
	if err != nil {
		return err
	}
	if p, ok := posOfLetter(ps); !ok || p != file || ps == "s" {
		return fmt.Errorf("part of speech %q in index.%s", ps, posFileNames[file])
	}
	nsyn, err := fs.number("synset_cnt", 10, 999)
	if err != nil {
		return err
	}
	nptr, err := fs.number("p_cnt", 10, 99)
	if err != nil {
		return err
	}
	for range nptr {
		if _, err := fs.next("pointer symbol"); err != nil {
			return err
		}
	}
	nsense, err := fs.number("sense_cnt", 10, 999)
	if err != nil {
		return err
	}
	if nsense != nsyn {
		return fmt.Errorf("sense_cnt %d, synset_cnt %d", nsense, nsyn)
	}
	tagged, err := fs.number("tagsense_cnt", 10, 999)
	if err != nil {
		return err
	}
	if nsyn == 0 {
		return errors.New("lemma without synsets")
	}
	senses := rawSense{tagsenses: tagged, offsets: make([]uint32, nsyn)}
	for i := range nsyn {
		o, err := fs.number("synset offset", 10, maxOffset)
		if err != nil {
			return err
		}
		senses.offsets[i] = uint32(o)
	}
	if fs.i != len(fs.f) {
		return fmt.Errorf("%d fields after the synset offsets", len(fs.f)-fs.i)
	}
	l := c.lemmas[lemma]
	if l == nil {
		l = new([numPOS]rawSense)
		c.lemmas[lemma] = l
	}
	if l[file].offsets != nil {
		return fmt.Errorf("lemma %q twice", raw)
	}
	l[file] = senses
	return nil
}

func (c *converter) excLine(file POS, line string) error {
	f := strings.Fields(line)
	if len(f) < 2 {
		return fmt.Errorf("%q: want an inflected form and its base forms", line)
	}
	form, err := lemmaString(f[0])
	if err != nil {
		return err
	}
	for _, b := range f[1:] {
		base, err := lemmaString(b)
		if err != nil {
			return err
		}
		c.exc[file][form] = append(c.exc[file][form], base)
	}
	return nil
}

// check reports missing source files.
func (c *converter) check() error {
	var errs []error
	for _, k := range []byte{'d', 'i', 'e'} {
		for p := range numPOS {
			if f := (sourceFile{k, p}); !c.seen[f] {
				errs = append(errs, fmt.Errorf("wordnet: the source lacks %s", f.name()))
			}
		}
	}
	return errors.Join(errs...)
}

// write builds the file in memory and writes it to out.
func (c *converter) write(out io.Writer) (convStats, error) {
	var st convStats
	if err := c.check(); err != nil {
		return st, err
	}
	// Synset ids: by class, then in file order.
	order := make([]int, len(c.synsets))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int {
		return cmp.Or(cmp.Compare(c.synsets[x].class, c.synsets[y].class), cmp.Compare(c.synsets[x].offset, c.synsets[y].offset))
	})
	if len(order) == 0 || len(order) > maxSynsets {
		return st, fmt.Errorf("wordnet: %d synsets, want 1..%d", len(order), maxSynsets)
	}
	ids := make([]uint32, len(c.synsets)) // index in c.synsets → id
	var h header
	for id, i := range order {
		ids[i] = uint32(id)
		h.classes[c.synsets[i].class]++
		st.Synsets[c.synsets[i].class]++
	}
	resolve := func(file POS, offset uint32) (uint32, bool) {
		i, ok := c.byOffset[file][offset]
		if !ok {
			return 0, false
		}
		return ids[i], true
	}

	// Pointers, by synset id.
	ptrOffs := make([]uint32, 1, len(order)+1)
	var ptrs []uint32
	for id, i := range order {
		s := c.synsets[i]
		start := len(ptrs)
		for _, p := range s.ptrs {
			t, ok := resolve(p.file, p.offset)
			if !ok {
				return st, fmt.Errorf("wordnet: data.%s synset %08d points to %s %08d, which does not exist", posFileNames[s.file], s.offset, posFileNames[p.file], p.offset)
			}
			if t != uint32(id) {
				ptrs = append(ptrs, uint32(p.kind)<<kindShift|t)
			}
		}
		mine := ptrs[start:]
		slices.Sort(mine)
		ptrs = append(ptrs[:start], slices.Compact(mine)...)
		ptrOffs = append(ptrOffs, uint32(len(ptrs)))
	}
	for _, p := range ptrs {
		st.Pointers[p>>kindShift]++
	}

	// Strings: the lemmas and the exception forms with a usable base.
	type excEntry struct {
		pos  POS
		base string
	}
	excs := make(map[string][]excEntry)
	for p := range numPOS {
		forms := make([]string, 0, len(c.exc[p]))
		for f := range c.exc[p] {
			forms = append(forms, f)
		}
		slices.Sort(forms)
		for _, f := range forms {
			for _, b := range c.exc[p][f] {
				l := c.lemmas[b]
				if b == f || l == nil || l[p].offsets == nil {
					st.ExcDropped++
					continue
				}
				if !slices.Contains(excs[f], excEntry{p, b}) {
					excs[f] = append(excs[f], excEntry{p, b})
					st.Exceptions++
				}
			}
		}
	}
	strs := make([]string, 0, len(c.lemmas)+len(excs))
	for s := range c.lemmas {
		strs = append(strs, s)
	}
	for s := range excs {
		if c.lemmas[s] == nil {
			strs = append(strs, s)
		}
	}
	slices.Sort(strs)
	strID := make(map[string]uint32, len(strs))
	for i, s := range strs {
		strID[s] = uint32(i)
	}
	st.Strings, st.Lemmas = len(strs), len(c.lemmas)
	if len(strs) == 0 || len(strs) > maxStrings {
		return st, fmt.Errorf("wordnet: %d lemmas and exception forms, want 1..%d", len(strs), maxStrings)
	}

	strOffs := make([]uint32, 1, len(strs)+1)
	entryOffs := make([]uint32, 1, len(strs)+1)
	var blob []byte
	var entries []uint32
	for _, s := range strs {
		blob = append(blob, s...)
		strOffs = append(strOffs, uint32(len(blob)))
		if l := c.lemmas[s]; l != nil {
			for p := range numPOS {
				for r, o := range l[p].offsets {
					id, ok := resolve(p, o)
					if !ok {
						return st, fmt.Errorf("wordnet: index.%s lemma %q names synset %08d, which does not exist", posFileNames[p], s, o)
					}
					if POS(c.synsetPOS(id, &h)) != p {
						return st, fmt.Errorf("wordnet: index.%s lemma %q names synset %08d of another part of speech", posFileNames[p], s, o)
					}
					e := id
					if r+1 > max(1, l[p].tagsenses) {
						e |= rareBit
					}
					entries = append(entries, e)
					st.Senses++
				}
			}
		}
		for _, x := range excs[s] {
			entries = append(entries, excBit|uint32(x.pos)<<excPOSShift|strID[x.base])
		}
		entryOffs = append(entryOffs, uint32(len(entries)))
	}

	slots := uint32(2)
	for slots < 2*uint32(len(strs)) {
		slots <<= 1
	}
	table := make([]uint32, slots)
	for id, s := range strs {
		i := hashLower(s) & (slots - 1)
		for table[i] != 0 {
			i = (i + 1) & (slots - 1)
		}
		table[i] = uint32(id) + 1
	}

	h.strings, h.blobLen, h.slots = uint32(len(strs)), uint32(len(blob)), slots
	h.entries, h.pointers, h.licenceLen = uint32(len(entries)), uint32(len(ptrs)), uint32(len(c.licence))
	if err := h.check(); err != nil {
		return st, err
	}
	l := h.layout()
	data := make([]byte, headerSize, l.size)
	for _, sec := range [][]uint32{strOffs, entryOffs, entries, table, ptrOffs, ptrs} {
		for _, u := range sec {
			data = binary.LittleEndian.AppendUint32(data, u)
		}
	}
	data = append(data, blob...)
	data = append(data, c.licence...)
	if uint64(len(data)) != l.size {
		return st, fmt.Errorf("wordnet: built %d bytes, the layout says %d", len(data), l.size)
	}
	copy(data, h.encode(0))
	binary.LittleEndian.PutUint32(data[checksumAt:], checksum(data))
	if _, err := parse(data); err != nil {
		return st, fmt.Errorf("wordnet: the converted file does not parse: %w", err)
	}
	if _, err := out.Write(data); err != nil {
		return st, fmt.Errorf("wordnet: writing: %w", err)
	}
	st.Bytes = int64(len(data))
	return st, nil
}

// synsetPOS is the part of speech of a synset id under h's class counts.
func (c *converter) synsetPOS(id uint32, h *header) int {
	end := uint32(0)
	for cl, n := range h.classes {
		end += n
		if id < end {
			switch cl {
			case classNoun:
				return int(Noun)
			case classVerb:
				return int(Verb)
			case classAdj, classSat:
				return int(Adj)
			}
			return int(Adv)
		}
	}
	return -1
}
