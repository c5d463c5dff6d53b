package use

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// Tensor names, from the model's weightsManifest. See
// /work/shared/notes/use-lite.md §1.
const (
	prefApply  = "module_apply_default/Encoder_en/KonaTransformer/Encode/"
	prefModule = "module/Encoder_en/KonaTransformer/Encode/"
)

func layerPrefix(l int) string { return fmt.Sprintf("Layer_%d/TransformerLayer/", l) }

// manifest is the part of model.json Load reads.
type manifest struct {
	WeightsManifest []manifestGroup `json:"weightsManifest"`
}

type manifestGroup struct {
	Paths   []string         `json:"paths"`
	Weights []manifestWeight `json:"weights"`
}

type manifestWeight struct {
	Name         string          `json:"name"`
	Shape        []int           `json:"shape"`
	Dtype        string          `json:"dtype"`
	Quantization json.RawMessage `json:"quantization,omitempty"`
}

// tensorRef locates one tensor inside the concatenated shards.
type tensorRef struct {
	offset int64
	shape  []int
	dtype  string
}

func (t tensorRef) elems() int64 {
	n := int64(1)
	for _, d := range t.shape {
		n *= int64(d)
	}
	return n
}

// blob is the concatenation of a manifest group's shards plus the offset of
// every tensor in it, computed from the manifest (never hard-coded).
type blob struct {
	data    []byte
	tensors map[string]tensorRef
}

// readManifest parses dir/model.json.
func readManifest(dir string) (*manifest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		return nil, fmt.Errorf("use: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("use: parse model.json: %w", err)
	}
	if len(m.WeightsManifest) != 1 {
		return nil, fmt.Errorf("use: model.json has %d weight groups, want 1", len(m.WeightsManifest))
	}
	g := m.WeightsManifest[0]
	if len(g.Paths) == 0 || len(g.Weights) == 0 {
		return nil, errors.New("use: model.json has an empty weight group")
	}
	for _, p := range g.Paths {
		// Shard names come from a downloaded file: never let them escape dir.
		if !filepath.IsLocal(p) || filepath.Base(p) != p {
			return nil, fmt.Errorf("use: model.json: bad shard path %q", p)
		}
	}
	return &m, nil
}

// layout computes every tensor's offset and the group's total size.
func (g manifestGroup) layout() (map[string]tensorRef, int64, error) {
	tensors := make(map[string]tensorRef, len(g.Weights))
	var off int64
	for _, w := range g.Weights {
		if len(w.Quantization) > 0 && string(w.Quantization) != "null" {
			return nil, 0, fmt.Errorf("use: tensor %s is quantized; unsupported", w.Name)
		}
		if w.Dtype != "float32" && w.Dtype != "int32" {
			return nil, 0, fmt.Errorf("use: tensor %s has dtype %q; unsupported", w.Name, w.Dtype)
		}
		t := tensorRef{offset: off, shape: w.Shape, dtype: w.Dtype}
		for _, d := range w.Shape {
			if d < 0 {
				return nil, 0, fmt.Errorf("use: tensor %s has negative dimension", w.Name)
			}
		}
		tensors[w.Name] = t
		off += 4 * t.elems()
	}
	return tensors, off, nil
}

// readBlob reads and concatenates the shards listed in the manifest.
func readBlob(dir string, m *manifest) (*blob, error) {
	g := m.WeightsManifest[0]
	tensors, total, err := g.layout()
	if err != nil {
		return nil, err
	}
	if total != shardBytes {
		return nil, fmt.Errorf("use: manifest describes %d bytes of weights, want %d (wrong model version?)", total, shardBytes)
	}
	sizes, err := shardSizes(dir, g.Paths)
	if err != nil {
		return nil, err
	}
	var sum int64
	for _, n := range sizes {
		sum += n
	}
	if sum != total {
		return nil, fmt.Errorf("use: shards hold %d bytes, manifest says %d", sum, total)
	}
	data := make([]byte, total)
	var off int64
	for i, p := range g.Paths {
		f, err := os.Open(filepath.Join(dir, p))
		if err != nil {
			return nil, fmt.Errorf("use: %w", err)
		}
		_, err = io.ReadFull(f, data[off:off+sizes[i]])
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("use: read %s: %w", p, err)
		}
		off += sizes[i]
	}
	return &blob{data: data, tensors: tensors}, nil
}

// shardSizes stats every shard.
func shardSizes(dir string, paths []string) ([]int64, error) {
	sizes := make([]int64, len(paths))
	for i, p := range paths {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			return nil, fmt.Errorf("use: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("use: shard %s is not a regular file", p)
		}
		sizes[i] = fi.Size()
	}
	return sizes, nil
}

// float32s copies the named float32 tensor out of the blob after checking
// its shape.
func (b *blob) float32s(name string, shape ...int) ([]float32, error) {
	t, ok := b.tensors[name]
	if !ok {
		return nil, fmt.Errorf("use: model has no tensor %s", name)
	}
	if t.dtype != "float32" {
		return nil, fmt.Errorf("use: tensor %s has dtype %s, want float32", name, t.dtype)
	}
	if !sameShape(t.shape, shape) {
		return nil, fmt.Errorf("use: tensor %s has shape %v, want %v", name, t.shape, shape)
	}
	n := t.elems()
	out := make([]float32, n)
	src := b.data[t.offset : t.offset+4*n]
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
	return out, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// layerWeights holds one transformer layer, matrices packed for matmul.
type layerWeights struct {
	d                  int       // input width: 256 or 512
	attnScale          float32   // 1/sqrt(head size)
	lnAttnG, lnAttnB   []float32 // [d]
	qkv                packedMat // [d, 3d]
	qkvB               []float32 // [3d]
	out                packedMat // [d, 512]
	outB               []float32 // [512]
	resid              packedMat // [256, 512], layer 0 only
	residB             []float32 // [512], layer 0 only
	lnFFNG, lnFFNB     []float32 // [512]
	ffn1               packedMat // [512, 1536]
	ffn1B              []float32 // [1536]
	ffn2               packedMat // [1536, 512]
	ffn2B              []float32 // [512]
	hasResidProjection bool
}

// model holds every weight the forward pass needs.
type model struct {
	emb    []float32 // [8002, 256]
	pe     []float32 // [maxTokens, 256] position signal, precomputed
	layers [2]layerWeights
	tanhW  packedMat // [512, 512]
	tanhB  []float32 // [512]
	empty  []float32 // output for a sentence without tokens
}

// loader collects the first error so the long list of lookups stays
// readable.
type loader struct {
	b   *blob
	err error
}

func (l *loader) f32(name string, shape ...int) []float32 {
	if l.err != nil {
		return nil
	}
	v, err := l.b.float32s(name, shape...)
	if err != nil {
		l.err = err
	}
	return v
}

func (l *loader) packed(name string, in, out int, shape ...int) packedMat {
	v := l.f32(name, shape...)
	if l.err != nil {
		return packedMat{}
	}
	return packMat(v, in, out)
}

func (l *loader) scalar(name string) float32 {
	v := l.f32(name)
	if l.err != nil {
		return 0
	}
	return v[0]
}

func loadModel(b *blob) (*model, error) {
	l := &loader{b: b}
	m := &model{}
	m.emb = l.f32("module/Embeddings_en", vocabRows, width0)
	inv := l.f32(prefApply+"TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1", 1, width0/2)
	for li := range m.layers {
		lp := layerPrefix(li)
		d := width0
		if li == 1 {
			d = width
		}
		lw := &m.layers[li]
		lw.d = d
		lw.attnScale = l.scalar(prefApply + "TransformerStack/" + lp + "MultiheadAttention/mul/y")
		lw.lnAttnG = l.f32(prefApply+lp+"layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", d)
		lw.lnAttnB = l.f32(prefApply+lp+"layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", d)
		lw.qkv = l.packed(prefModule+lp+"MultiheadAttention/qkv_transform_single/kernel/part_0", d, 3*d, 1, 1, d, 3*d)
		lw.qkvB = l.f32(prefApply+lp+"MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat", 3*d)
		lw.out = l.packed(prefModule+lp+"MultiheadAttention/output_transform_single/kernel/part_0", d, width, 1, 1, d, width)
		lw.outB = l.f32(prefApply+lp+"MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat", width)
		if li == 0 {
			lw.hasResidProjection = true
			lw.resid = l.packed(prefApply+lp+"dense/kernel/ConcatPartitions/concat", width0, width, width0, width)
			lw.residB = l.f32(prefApply+lp+"dense/bias/ConcatPartitions/concat", width)
		}
		lw.lnFFNG = l.f32(prefApply+lp+"FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat", width)
		lw.lnFFNB = l.f32(prefApply+lp+"FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat", width)
		lw.ffn1 = l.packed(prefApply+"TransformerStack/"+lp+"FFN/conv1/Tensordot/Reshape_1", width, ffnWidth, width, ffnWidth)
		lw.ffn1B = l.f32(prefApply+lp+"FFN/conv1/bias/ConcatPartitions/concat", ffnWidth)
		lw.ffn2 = l.packed(prefApply+"TransformerStack/"+lp+"FFN/conv2/Tensordot/Reshape_1", ffnWidth, width, ffnWidth, width)
		lw.ffn2B = l.f32(prefApply+lp+"FFN/conv2/bias/ConcatPartitions/concat", width)
	}
	m.tanhW = l.packed("module/Encoder_en/hidden_layers/tanh_layer_0/weights", width, width, width, width)
	m.tanhB = l.f32("module/Encoder_en/hidden_layers/tanh_layer_0/bias", width)
	if l.err != nil {
		return nil, l.err
	}
	// The query scales are stored in the graph; they must be 1/sqrt(64) and
	// 1/sqrt(128). Anything else means a different model.
	for li, want := range []float64{0.125, 0.0883883461356163} {
		if got := float64(m.layers[li].attnScale); math.Abs(got-want) > 1e-7 {
			return nil, fmt.Errorf("use: layer %d query scale is %g, want %g", li, got, want)
		}
	}
	m.pe = positionSignal(inv)
	m.empty = make([]float32, width)
	for i, b := range m.tanhB {
		m.empty[i] = float32(math.Tanh(float64(b)))
	}
	l2normalize(m.empty)
	return m, nil
}

// positionSignal precomputes PE(t)[k] = sin(t·inv[k]) and
// PE(t)[128+k] = cos(t·inv[k]), the product taken in float32 as the graph
// does.
func positionSignal(inv []float32) []float32 {
	half := len(inv)
	pe := make([]float32, maxTokens*2*half)
	for t := range maxTokens {
		row := pe[t*2*half : (t+1)*2*half]
		for k, f := range inv {
			a := float64(float32(t) * f)
			row[k] = float32(math.Sin(a))
			row[half+k] = float32(math.Cos(a))
		}
	}
	return pe
}
