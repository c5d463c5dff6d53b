package wordvec

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// convStats describes one conversion.
type convStats struct {
	Entries int   // source entries read (Pull stops once it has enough words)
	Words   int   // words kept
	Skipped int   // entries read but not kept: not words, duplicates, zero vectors
	Bytes   int64 // size of the converted file
	Quant   quantStats
}

// quantStats measures the int8 quantisation on a sample of the kept words
// (every (words/sampleSize)-th): |cosine of the int8 vectors − cosine of
// the float vectors| over every pair of the sample, for the per-vector
// scale the file uses and, for comparison, for one global scale.
type quantStats struct {
	Pairs             int
	MeanAbs, MaxAbs   float64 // per-vector scale (what the file stores)
	HighPairs         int     // pairs whose float cosine is at least 0.5
	MeanAbsHigh       float64 // per-vector scale, those pairs only
	MaxAbsHigh        float64
	MeanAbsGlobal     float64 // one scale for every vector
	MaxAbsGlobal      float64
	MeanAbsHighGlobal float64
}

const sampleSize = 1000

// converter turns the source JSON into a vectors file.
type converter struct {
	maxWords int
	dims     int
	scales   []float32
	offsets  []uint32
	blob     []byte
	seen     map[string]struct{}
	stats    convStats
	// Quantisation sample: unit float vectors and their int8 rows.
	stride     int
	sampleF    [][]float32
	sampleQ    [][]int8
	sampleS    []float32
	globalMax  float64 // largest |component| of any unit vector kept
	row        []byte
	unit, vals []float64
}

// convert reads the source JSON from src and writes the vectors file to
// out (from its start), keeping at most maxWords words.
func convert(src io.Reader, out io.WriteSeeker, maxWords int) (convStats, error) {
	if maxWords <= 0 || maxWords > maxCount {
		return convStats{}, fmt.Errorf("wordvec: want 1..%d words, not %d", maxCount, maxWords)
	}
	c := &converter{maxWords: maxWords, seen: make(map[string]struct{}), offsets: []uint32{0}}
	c.stride = max(1, maxWords/sampleSize)
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return convStats{}, fmt.Errorf("wordvec: %w", err)
	}
	bw := bufio.NewWriterSize(out, 1<<16)
	crc := crc32.New(castagnoli)
	w := io.MultiWriter(bw, crc)
	if _, err := bw.Write(make([]byte, headerSize)); err != nil {
		return convStats{}, fmt.Errorf("wordvec: %w", err)
	}
	if err := c.readSource(newJSONScanner(src), w); err != nil {
		return convStats{}, err
	}
	if len(c.scales) == 0 {
		return convStats{}, errors.New("wordvec: the source holds no usable words")
	}
	h, err := c.writeTail(w)
	if err != nil {
		return convStats{}, err
	}
	hdr := h.encode(0)
	binary.LittleEndian.PutUint32(hdr[checksumAt:], crc32.Update(crc.Sum32(), castagnoli, hdr[:checksumAt]))
	if err := bw.Flush(); err != nil {
		return convStats{}, fmt.Errorf("wordvec: %w", err)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return convStats{}, fmt.Errorf("wordvec: %w", err)
	}
	if _, err := out.Write(hdr); err != nil {
		return convStats{}, fmt.Errorf("wordvec: %w", err)
	}
	c.stats.Words = len(c.scales)
	c.stats.Bytes = int64(h.layout().size)
	c.stats.Quant = c.quantError()
	return c.stats, nil
}

// readSource walks the top-level object: the layout keys, then "vectors".
func (c *converter) readSource(s *jsonScanner, w io.Writer) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	dims, normAt, indexAt := -1, -1, -1
	sawVectors := false
	if done, err := s.empty('}'); err != nil || done {
		if err == nil {
			err = s.errorf("empty object, want the wink embeddings layout")
		}
		return err
	}
	for {
		key, err := s.str()
		if err != nil {
			return err
		}
		k := string(key)
		if err := s.expect(':'); err != nil {
			return err
		}
		switch k {
		case "dimensions":
			dims, err = s.integer(maxDims + 1)
		case "l2NormIndex":
			normAt, err = s.integer(maxDims + 2)
		case "wordIndex":
			indexAt, err = s.integer(maxDims + 2)
		case "vectors":
			if dims < 1 || normAt != dims || indexAt != dims+1 {
				return s.errorf(`"vectors" before a known layout: dimensions %d, l2NormIndex %d, wordIndex %d; want dimensions ≥ 1 then the norm and the word index after the components`, dims, normAt, indexAt)
			}
			c.dims = dims
			var stop bool
			stop, err = c.readVectors(s, w)
			sawVectors = true
			if err == nil && stop {
				return nil
			}
		default:
			err = s.skip(1)
		}
		if err != nil {
			return err
		}
		more, err := s.more('}')
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	if !sawVectors {
		return s.errorf(`no "vectors" object`)
	}
	return nil
}

// readVectors reads "vectors" entries until the object ends (false) or
// enough words are kept (true).
func (c *converter) readVectors(s *jsonScanner, w io.Writer) (stop bool, err error) {
	if err := s.expect('{'); err != nil {
		return false, err
	}
	if done, err := s.empty('}'); err != nil || done {
		return false, err
	}
	width := c.dims + 2
	c.vals = make([]float64, width)
	c.unit = make([]float64, c.dims)
	c.row = make([]byte, c.dims)
	for pos := 0; ; pos++ {
		key, err := s.str()
		if err != nil {
			return false, err
		}
		word := string(key)
		if err := s.expect(':'); err != nil {
			return false, err
		}
		if err := s.expect('['); err != nil {
			return false, err
		}
		n := 0
		for {
			if n == width {
				return false, s.errorf("vector of %q has more than %d numbers", word, width)
			}
			if c.vals[n], err = s.number(); err != nil {
				return false, err
			}
			n++
			more, err := s.more(']')
			if err != nil {
				return false, err
			}
			if !more {
				break
			}
		}
		if n != width {
			return false, s.errorf("vector of %q has %d numbers, want %d", word, n, width)
		}
		if idx := c.vals[c.dims+1]; idx != float64(pos) {
			return false, s.errorf("entry %d (%q) has word index %v: the source is not in vocabulary order", pos, word, idx)
		}
		c.stats.Entries++
		if err := c.add(word, c.vals[:c.dims], c.vals[c.dims], w); err != nil {
			return false, s.errorf("%v", err)
		}
		if len(c.scales) == c.maxWords {
			return true, nil
		}
		more, err := s.more('}')
		if err != nil || !more {
			return false, err
		}
	}
}

// add normalises, quantises and writes one entry if it is a word.
func (c *converter) add(word string, comps []float64, storedNorm float64, w io.Writer) error {
	var sq float64
	for _, x := range comps {
		sq += x * x
	}
	norm := math.Sqrt(sq)
	// The stored norm proves the layout was read right.
	if math.Abs(norm-storedNorm) > 1e-3*max(1, norm) {
		return fmt.Errorf("vector of %q has norm %.6g, the source says %.6g: layout not understood", word, norm, storedNorm)
	}
	if _, dup := c.seen[word]; dup || !isWord(word) || norm == 0 || math.IsInf(norm, 0) || math.IsNaN(norm) {
		c.stats.Skipped++
		return nil
	}
	c.seen[word] = struct{}{}
	var m float64
	for i, x := range comps {
		c.unit[i] = x / norm
		m = max(m, math.Abs(c.unit[i]))
	}
	c.globalMax = max(c.globalMax, m)
	var qsq float64
	for i, u := range c.unit {
		q := int8(math.Round(u / m * 127))
		c.row[i] = byte(q)
		qsq += float64(q) * float64(q)
	}
	scale := float32(1 / math.Sqrt(qsq))
	if _, err := w.Write(c.row); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	if n := len(c.scales); n%c.stride == 0 && len(c.sampleF) < sampleSize {
		f := make([]float32, c.dims)
		q := make([]int8, c.dims)
		for i, u := range c.unit {
			f[i] = float32(u)
			q[i] = int8(c.row[i])
		}
		c.sampleF = append(c.sampleF, f)
		c.sampleQ = append(c.sampleQ, q)
		c.sampleS = append(c.sampleS, scale)
	}
	c.scales = append(c.scales, scale)
	c.blob = append(c.blob, word...)
	c.offsets = append(c.offsets, uint32(len(c.blob)))
	return nil
}

// isWord is the rule for what Pull keeps: lowercase a–z, with single
// hyphens or apostrophes between letters.
func isWord(w string) bool {
	if len(w) == 0 || len(w) > maxWordLen {
		return false
	}
	letter := func(c byte) bool { return c >= 'a' && c <= 'z' }
	if !letter(w[0]) || !letter(w[len(w)-1]) {
		return false
	}
	for i := 1; i < len(w); i++ {
		switch c := w[i]; {
		case letter(c):
		case (c == '-' || c == '\'') && letter(w[i-1]):
		default:
			return false
		}
	}
	return true
}

// writeTail writes the sections after the vectors and returns the header.
func (c *converter) writeTail(w io.Writer) (header, error) {
	count := len(c.scales)
	slots := uint32(2)
	for slots < 2*uint32(count) {
		slots <<= 1
	}
	h := header{dims: uint32(c.dims), count: uint32(count), slots: slots, blobLen: uint32(len(c.blob))}
	if err := h.check(); err != nil {
		return header{}, err
	}
	table := make([]uint32, slots)
	for id := range count {
		word := c.blob[c.offsets[id]:c.offsets[id+1]]
		i := hashLower(word) & (slots - 1)
		for table[i] != 0 {
			i = (i + 1) & (slots - 1)
		}
		table[i] = uint32(id) + 1
	}
	var b [4]byte
	put := func(u uint32) error {
		binary.LittleEndian.PutUint32(b[:], u)
		_, err := w.Write(b[:])
		return err
	}
	var err error
	for _, s := range c.scales {
		err = errors.Join(err, put(math.Float32bits(s)))
	}
	for _, o := range c.offsets {
		err = errors.Join(err, put(o))
	}
	for _, e := range table {
		err = errors.Join(err, put(e))
	}
	if _, werr := w.Write(c.blob); werr != nil {
		err = errors.Join(err, werr)
	}
	if err != nil {
		return header{}, fmt.Errorf("wordvec: writing: %w", err)
	}
	return h, nil
}

// quantError compares int8 and float cosines over the sample's pairs.
func (c *converter) quantError() quantStats {
	var e quantStats
	n := len(c.sampleF)
	if n < 2 {
		return e
	}
	// The global-scale alternative: one step for every vector.
	g := c.globalMax / 127
	globalQ := make([][]int8, n)
	for i, f := range c.sampleF {
		globalQ[i] = make([]int8, c.dims)
		for d, x := range f {
			globalQ[i][d] = int8(math.Round(float64(x) / g))
		}
	}
	var sum, sumHigh, sumGlobal, sumHighGlobal float64
	for i := range n {
		for j := i + 1; j < n; j++ {
			var fc float64
			var qd, gd int32
			for d := range c.dims {
				fc += float64(c.sampleF[i][d]) * float64(c.sampleF[j][d])
				qd += int32(c.sampleQ[i][d]) * int32(c.sampleQ[j][d])
				gd += int32(globalQ[i][d]) * int32(globalQ[j][d])
			}
			qc := float64(qd) * float64(c.sampleS[i]) * float64(c.sampleS[j])
			gc := float64(gd) * g * g
			eq, eg := math.Abs(qc-fc), math.Abs(gc-fc)
			e.Pairs++
			sum += eq
			sumGlobal += eg
			e.MaxAbs = max(e.MaxAbs, eq)
			e.MaxAbsGlobal = max(e.MaxAbsGlobal, eg)
			if fc >= 0.5 {
				e.HighPairs++
				sumHigh += eq
				sumHighGlobal += eg
				e.MaxAbsHigh = max(e.MaxAbsHigh, eq)
			}
		}
	}
	e.MeanAbs = sum / float64(e.Pairs)
	e.MeanAbsGlobal = sumGlobal / float64(e.Pairs)
	if e.HighPairs > 0 {
		e.MeanAbsHigh = sumHigh / float64(e.HighPairs)
		e.MeanAbsHighGlobal = sumHighGlobal / float64(e.HighPairs)
	}
	return e
}

func (e quantStats) String() string {
	return fmt.Sprintf("|cos int8 − cos float32| over %d pairs: mean %.4f, max %.4f (one global scale: mean %.4f, max %.4f); %d pairs with cos ≥ 0.5: mean %.4f, max %.4f (global: mean %.4f)",
		e.Pairs, e.MeanAbs, e.MaxAbs, e.MeanAbsGlobal, e.MaxAbsGlobal, e.HighPairs, e.MeanAbsHigh, e.MaxAbsHigh, e.MeanAbsHighGlobal)
}
