package use

import (
	"context"
	"math"
)

// Model dimensions and constants (/work/shared/notes/use-lite.md §1, §4).
const (
	vocabSize = 8000 // entries in vocab.json
	vocabRows = 8002 // rows of the embedding table (8000–8001 unused)
	width0    = 256  // embedding width and layer-0 attention width
	width     = 512  // model width after layer 0; the output dimension
	ffnWidth  = 1536
	heads     = 4
	maxTokens = 128
	lnEpsilon = 1e-6
	l2Epsilon = 1e-12
	// shardBytes is the total size of the weight shards of model 0.2.0.
	shardBytes = 27_903_656
)

// workspace is the scratch memory of one forward pass over a batch of
// sentences. Their token rows are packed one after another (no padding
// between sentences: rows of a matmul are independent), so one matmul per
// weight matrix serves the whole batch and the weights stream from memory
// once per pass instead of once per sentence. Buffers grow to the largest
// pass seen (bounded by maxPassRows) and are reused through Encoder's
// sync.Pool.
type workspace struct {
	x0   []float32 // [rp, 256] embeddings + position signal
	h    []float32 // [rp, 512] LayerNorm output
	qkv  []float32 // [rows, 3d]
	ctx  []float32 // [rows, d] attention output, heads concatenated
	y    []float32 // [rp, 512] residual stream
	ffn  []float32 // [rp, 1536]
	s    []float32 // [tp, tk] attention scores of one head of one sentence
	kp   []float32 // one head's keys, packed as the B operand of Q·Kᵀ
	vp   []float32 // one head's values, packed as the B operand of P·V
	zero []float32 // zero bias
	head []float32 // [roundUp(sentences, mr), 512] pooled vectors
	u    []float32 // [roundUp(sentences, mr), 512] tanh layer output
	lt   lattice

	// The pending batch of Encoder.embedRange: token ids of all its
	// sentences, where sentence i starts (offs[i]; offs has one more
	// entry, the end) and which output it fills.
	ids   []int32
	offs  []int
	outs  [][]float32
	spans []span
}

func newWorkspace() *workspace {
	return &workspace{zero: make([]float32, ffnWidth)}
}

// grow sizes the buffers for rp packed rows (a multiple of mr), rows
// addressable rows (rp plus the slack attention reads past the last
// sentence), one sentence of at most tp padded rows and tk padded keys, and
// hp pooled rows.
func (ws *workspace) grow(rp, rows, tp, tk, hp int) {
	ws.x0 = resize(ws.x0, rp*width0)
	ws.h = resize(ws.h, rp*width)
	ws.qkv = resize(ws.qkv, rows*3*width)
	ws.ctx = resize(ws.ctx, rows*width)
	ws.y = resize(ws.y, rp*width)
	ws.ffn = resize(ws.ffn, rp*ffnWidth)
	ws.s = resize(ws.s, tp*tk)
	ws.kp = resize(ws.kp, (width/heads)*tk)
	ws.vp = resize(ws.vp, tk*(width/heads))
	ws.head = resize(ws.head, hp*width)
	ws.u = resize(ws.u, hp*width)
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// span is one sentence's rows in a packed batch.
type span struct{ off, n int }

// forwardBatch embeds the pending batch of ws (ids, offs, outs): sentence i
// has tokens ids[offs[i]:offs[i+1]] (at most maxTokens) and its vector goes
// to outs[i]. Every sentence gets exactly the bits it gets alone: the
// matmul kernels compute each row on its own, and attention, pooling and
// the tanh layer are per sentence. ctx is checked between blocks; on
// cancellation it returns ctx's cause and the outputs are unspecified.
func (m *model) forwardBatch(ctx context.Context, ws *workspace) error {
	n := len(ws.outs)
	spans := ws.spans[:0]
	maxT := 0
	for i := range n {
		sp := span{off: ws.offs[i], n: ws.offs[i+1] - ws.offs[i]}
		if sp.n == 0 {
			copy(ws.outs[i], m.empty)
		}
		spans = append(spans, sp)
		maxT = max(maxT, sp.n)
	}
	ws.spans = spans
	R := len(ws.ids)
	if R == 0 {
		return nil
	}
	rp := roundUp(R, mr)
	// Attention of the last sentence reads up to nr−1 key rows and mr−1
	// query rows past R, and writes mr−1 context rows past it.
	rows := rp + nr
	ws.grow(rp, rows, roundUp(maxT, mr), roundUp(maxT, nr), roundUp(n, mr))

	// x0[t] = E[id] + (E[id] + PE(t)): the graph adds the embedding twice.
	x0 := ws.x0[:rp*width0]
	for _, sp := range spans {
		for t, id := range ws.ids[sp.off : sp.off+sp.n] {
			e := m.emb[int(id)*width0 : int(id)*width0+width0]
			pe := m.pe[t*width0 : t*width0+width0]
			row := x0[(sp.off+t)*width0 : (sp.off+t)*width0+width0]
			for k := range row {
				row[k] = e[k] + (e[k] + pe[k])
			}
		}
	}
	clear(x0[R*width0:]) // pad rows: finite, never read by valid rows

	// Layer 0 (256 → 512): y = MHA(LN(x0)) + x0·Wr + br, then the FFN.
	l0 := &m.layers[0]
	y := ws.y[:rp*width]
	layerNorm(ws.h, width0, x0, width0, rp, width0, l0.lnAttnG, l0.lnAttnB)
	l0.resid.mul(y, width, x0, width0, rp, l0.residB, 0)
	m.attentionBlock(l0, y, spans, rp, ws)
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	m.ffnBlock(l0, y, rp, ws)
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}

	// Layer 1 (512 → 512): y += MHA(LN(y)), then the FFN.
	l1 := &m.layers[1]
	layerNorm(ws.h, width, y, width, rp, width, l1.lnAttnG, l1.lnAttnB)
	m.attentionBlock(l1, y, spans, rp, ws)
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	m.ffnBlock(l1, y, rp, ws)

	// Mean over each sentence's valid positions, tanh layer, L2
	// normalisation. Pooled rows are packed like the token rows.
	hp := roundUp(n, mr)
	head := ws.head[:hp*width]
	clear(head)
	for i, sp := range spans {
		if sp.n == 0 {
			continue
		}
		p := head[i*width : i*width+width]
		for t := range sp.n {
			row := y[(sp.off+t)*width : (sp.off+t)*width+width]
			for k, v := range row {
				p[k] += v
			}
		}
		inv := 1 / float32(sp.n)
		for k := range p {
			p[k] *= inv
		}
	}
	m.tanhW.mul(ws.u, width, head, width, hp, m.tanhB, 0)
	for i, sp := range spans {
		if sp.n == 0 {
			continue
		}
		out := ws.outs[i][:width]
		for k, v := range ws.u[i*width : i*width+width] {
			out[k] = float32(math.Tanh(float64(v)))
		}
		l2normalize(out)
	}
	return nil
}

// attentionBlock adds MHA(ws.h) of layer l to y: the QKV projection of all
// rp rows, then per sentence four-head scaled dot-product attention over
// its valid positions, then the output projection of all rows accumulated
// into y.
//
// A sentence of T tokens at row off computes roundUp(T, mr) query rows and
// roundUp(T, nr) key rows from off, reading into the next sentence's rows
// (or the slack past rp); scores and context rows of those pad positions are
// never read. Its context pad rows overwrite the next sentence's, which is
// why sentences are processed in order.
func (m *model) attentionBlock(l *layerWeights, y []float32, spans []span, rp int, ws *workspace) {
	d := l.d
	ld := 3 * d
	dh := d / heads
	qkv := ws.qkv
	l.qkv.mul(qkv, ld, ws.h, d, rp, l.qkvB, 0)

	// Scale Q first, as the graph does.
	for i := range rp {
		q := qkv[i*ld : i*ld+d]
		for k := range q {
			q[k] *= l.attnScale
		}
	}
	ctx := ws.ctx
	for _, sp := range spans {
		T := sp.n
		if T == 0 {
			continue
		}
		tp, tk := roundUp(T, mr), roundUp(T, nr)
		sq := qkv[sp.off*ld:]
		s := ws.s[:tp*tk]
		for n := range heads {
			// Kᵀ of head n as nr-wide panels of keys. Keys j ≥ T are pad
			// rows; their scores are computed but never read.
			kp := ws.kp[:dh*tk]
			packPanels(kp, sq[d+n*dh:], 1, dh, tk, ld)
			gemm(s, tk, sq[n*dh:], ld, tp, dh, kp, tk, ws.zero, 0)
			for i := range T {
				softmax(s[i*tk : i*tk+T])
			}
			// V of head n (rows j < T) packed as dh/nr panels.
			vp := ws.vp[:T*dh]
			packPanels(vp, sq[2*d+n*dh:], ld, T, dh, 1)
			gemm(ctx[sp.off*d+n*dh:], d, s, tk, tp, T, vp, dh, ws.zero, 0)
		}
	}
	l.out.mul(y, width, ctx, d, rp, l.outB, kAccumulate)
}

// ffnBlock computes y += ReLU(LN(y)·F1 + f1)·F2 + f2.
func (m *model) ffnBlock(l *layerWeights, y []float32, tp int, ws *workspace) {
	layerNorm(ws.h, width, y, width, tp, width, l.lnFFNG, l.lnFFNB)
	f := ws.ffn[:tp*ffnWidth]
	l.ffn1.mul(f, ffnWidth, ws.h, width, tp, l.ffn1B, kReLU)
	l.ffn2.mul(y, width, f, ffnWidth, tp, l.ffn2B, kAccumulate)
}

// layerNorm normalises each of rows rows of width d: g·(x−μ)/√(σ²+ε) + b
// with the biased variance.
func layerNorm(dst []float32, ldd int, src []float32, lds, rows, d int, g, b []float32) {
	g, b = g[:d], b[:d]
	for r := range rows {
		x := src[r*lds : r*lds+d]
		out := dst[r*ldd : r*ldd+d]
		var sum float64
		for _, v := range x {
			sum += float64(v)
		}
		mu := sum / float64(d)
		var ss float64
		for _, v := range x {
			dv := float64(v) - mu
			ss += dv * dv
		}
		inv := float32(1 / math.Sqrt(ss/float64(d)+lnEpsilon))
		m32 := float32(mu)
		for k, v := range x {
			out[k] = g[k]*inv*(v-m32) + b[k]
		}
	}
}

// softmax replaces s by softmax(s), subtracting the maximum first.
func softmax(s []float32) {
	mx := s[0]
	for _, v := range s[1:] {
		mx = max(mx, v)
	}
	var sum float64
	for j, v := range s {
		e := math.Exp(float64(v - mx))
		s[j] = float32(e)
		sum += e
	}
	inv := float32(1 / sum)
	for j := range s {
		s[j] *= inv
	}
}

// l2normalize scales v to unit length: v·rsqrt(max(Σv², 1e-12)).
func l2normalize(v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	inv := float32(1 / math.Sqrt(max(ss, l2Epsilon)))
	for i := range v {
		v[i] *= inv
	}
}
