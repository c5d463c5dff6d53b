package use

import (
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

// workspace is the scratch memory of one forward pass. Buffers grow to the
// longest sentence seen and are reused through Encoder's sync.Pool.
type workspace struct {
	x0   []float32 // [tp, 256] embeddings + position signal
	h    []float32 // [tp, 512] LayerNorm output
	qkv  []float32 // [max(tp, tk), 3d]
	ctx  []float32 // [tp, d] attention output, heads concatenated
	y    []float32 // [tp, 512] residual stream
	ffn  []float32 // [tp, 1536]
	s    []float32 // [tp, tk] attention scores of one head
	kp   []float32 // one head's keys, packed as the B operand of Q·Kᵀ
	vp   []float32 // one head's values, packed as the B operand of P·V
	zero []float32 // zero bias
	head []float32 // [mr, 512] pooled vector (row 0) and zero pad rows
	u    []float32 // [mr, 512] tanh layer output
	lt   lattice
}

func newWorkspace() *workspace {
	return &workspace{
		zero: make([]float32, ffnWidth),
		head: make([]float32, mr*width),
		u:    make([]float32, mr*width),
	}
}

// grow sizes the buffers for tp padded rows and tk padded keys.
func (ws *workspace) grow(tp, tk int) {
	ws.x0 = resize(ws.x0, tp*width0)
	ws.h = resize(ws.h, tp*width)
	ws.qkv = resize(ws.qkv, max(tp, tk)*3*width)
	ws.ctx = resize(ws.ctx, tp*width)
	ws.y = resize(ws.y, tp*width)
	ws.ffn = resize(ws.ffn, tp*ffnWidth)
	ws.s = resize(ws.s, tp*tk)
	ws.kp = resize(ws.kp, (width/heads)*tk)
	ws.vp = resize(ws.vp, tk*(width/heads))
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// forward writes the embedding of ids (already clipped to maxTokens) to out.
func (m *model) forward(ids []int32, out []float32, ws *workspace) {
	T := len(ids)
	if T == 0 {
		copy(out, m.empty)
		return
	}
	tp := roundUp(T, mr)
	ws.grow(tp, roundUp(T, nr))

	// x0[t] = E[id] + (E[id] + PE(t)): the graph adds the embedding twice.
	x0 := ws.x0[:tp*width0]
	for t, id := range ids {
		e := m.emb[int(id)*width0 : int(id)*width0+width0]
		pe := m.pe[t*width0 : t*width0+width0]
		row := x0[t*width0 : t*width0+width0]
		for k := range row {
			row[k] = e[k] + (e[k] + pe[k])
		}
	}
	clear(x0[T*width0:]) // pad rows: finite, never read by valid rows

	// Layer 0 (256 → 512): y = MHA(LN(x0)) + x0·Wr + br, then the FFN.
	l0 := &m.layers[0]
	y := ws.y[:tp*width]
	layerNorm(ws.h, width0, x0, width0, tp, width0, l0.lnAttnG, l0.lnAttnB)
	l0.resid.mul(y, width, x0, width0, tp, l0.residB, 0)
	m.attentionBlock(l0, y, T, tp, ws)
	m.ffnBlock(l0, y, tp, ws)

	// Layer 1 (512 → 512): y += MHA(LN(y)), then the FFN.
	l1 := &m.layers[1]
	layerNorm(ws.h, width, y, width, tp, width, l1.lnAttnG, l1.lnAttnB)
	m.attentionBlock(l1, y, T, tp, ws)
	m.ffnBlock(l1, y, tp, ws)

	// Mean over the T valid positions, tanh layer, L2 normalisation.
	p := ws.head[:width]
	clear(ws.head)
	for t := range T {
		row := y[t*width : t*width+width]
		for k, v := range row {
			p[k] += v
		}
	}
	inv := 1 / float32(T)
	for k := range p {
		p[k] *= inv
	}
	m.tanhW.mul(ws.u, width, ws.head, width, mr, m.tanhB, 0)
	for k, v := range ws.u[:width] {
		out[k] = float32(math.Tanh(float64(v)))
	}
	l2normalize(out[:width])
}

// attentionBlock adds MHA(ws.h) of layer l to y: QKV projection, four-head
// scaled dot-product attention over the T valid positions, output
// projection accumulated into y.
func (m *model) attentionBlock(l *layerWeights, y []float32, T, tp int, ws *workspace) {
	d := l.d
	ld := 3 * d
	dh := d / heads
	tk := roundUp(T, nr)
	qkv := ws.qkv[:max(tp, tk)*ld] // rows up to tk hold the pad keys
	l.qkv.mul(qkv, ld, ws.h, d, tp, l.qkvB, 0)

	// Scale Q first, as the graph does.
	for i := range tp {
		q := qkv[i*ld : i*ld+d]
		for k := range q {
			q[k] *= l.attnScale
		}
	}
	s := ws.s[:tp*tk]
	ctx := ws.ctx[:tp*d]
	for n := range heads {
		// Kᵀ of head n as nr-wide panels of keys. Keys j ≥ T are pad
		// rows; their scores are computed but never read.
		kp := ws.kp[:dh*tk]
		packPanels(kp, qkv[d+n*dh:], 1, dh, tk, ld)
		gemm(s, tk, qkv[n*dh:], ld, tp, dh, kp, tk, ws.zero, 0)
		for i := range T {
			softmax(s[i*tk : i*tk+T])
		}
		// V of head n (rows j < T) packed as dh/nr panels.
		vp := ws.vp[:T*dh]
		packPanels(vp, qkv[2*d+n*dh:], ld, T, dh, 1)
		gemm(ctx[n*dh:], d, s, tk, tp, T, vp, dh, ws.zero, 0)
	}
	l.out.mul(y, width, ctx, d, tp, l.outB, kAccumulate)
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
