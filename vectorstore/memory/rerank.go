package memory

import (
	"bytes"
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/semcache/semcache/vectorstore"
)

// The re-rank. Searches rank candidates by their code distance d, which
// is within a known bound b of the exact distance (see dot.go), so each
// candidate's exact distance lies in [d−b, d+b]. A pool keeps the
// candidates that can still be among the best K: those whose lower bound
// does not exceed the K-th smallest upper bound seen (nor the distance
// MinScore allows). Exact distances are then computed in order of lower
// bound, stopping once the next lower bound exceeds the K-th exact
// distance found. Over an exhaustive scan this is exact; over a graph
// walk's candidates it is exact among them. In practice the int8 bound
// (≈0.015 on 512-d text embeddings) leaves one to a few exact
// computations per query.

// pcand is a pool candidate.
type pcand struct {
	gr     *group
	slot   uint32
	lo, hi float32 // bounds on the exact distance
}

// pool collects candidates from one or more groups.
type pool struct {
	k int
	// maxDist is the largest exact distance MinScore allows.
	maxDist float32
	his     maxHeap // the k smallest upper bounds
	c       []pcand
}

func (p *pool) reset(k int, maxDist float32) {
	p.k, p.maxDist = k, maxDist
	p.his = p.his[:0]
	clear(p.c)
	p.c = p.c[:0]
}

// limit is the largest lower bound a candidate may have and still qualify.
func (p *pool) limit() float32 {
	if len(p.his) >= p.k {
		return min(p.his.top().dist, p.maxDist)
	}
	return p.maxDist
}

func (p *pool) add(gr *group, slot uint32, lo, hi float32) {
	p.his.pushBounded(cand{hi, slot}, p.k)
	p.c = append(p.c, pcand{gr, slot, lo, hi})
	if len(p.c) >= 4*p.k+256 {
		p.prune()
	}
}

func (p *pool) prune() {
	lim := p.limit()
	out := p.c[:0]
	for _, c := range p.c {
		if c.lo <= lim {
			out = append(out, c)
		}
	}
	clear(p.c[len(out):])
	p.c = out
}

func (p *pool) merge(o *pool) {
	for _, c := range o.c {
		if c.lo <= p.limit() {
			p.add(c.gr, c.slot, c.lo, c.hi)
		}
	}
}

// final returns the qualifying candidates by increasing lower bound.
func (p *pool) final() []pcand {
	p.prune()
	slices.SortFunc(p.c, func(a, b pcand) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return int(a.slot) - int(b.slot)
	})
	return p.c
}

// approx lists the candidates by code distance (the middle of the bounds).
func (p *pool) approx() []cand {
	out := make([]cand, len(p.c))
	for i, c := range p.c {
		out[i] = cand{(c.lo + c.hi) / 2, c.slot}
	}
	slices.SortFunc(out, cmpCand)
	return out
}

// scored is a re-ranked candidate.
type scored struct {
	dist float32
	id   string
	hit  vectorstore.Hit
	// gr and slot locate an in-memory store's candidate.
	gr   *group
	slot uint32
}

// topK keeps the k best scored candidates, ordered by distance then ID.
type topK struct {
	k   int
	out []scored
}

func (t *topK) worst() float32 {
	if len(t.out) < t.k {
		return float32(math.Inf(1))
	}
	return t.out[len(t.out)-1].dist
}

func (t *topK) add(s scored) bool {
	i, _ := slices.BinarySearchFunc(t.out, s, func(a, b scored) int {
		if a.dist != b.dist {
			if a.dist < b.dist {
				return -1
			}
			return 1
		}
		return strings.Compare(a.id, b.id)
	})
	if i >= t.k {
		return false
	}
	t.out = slices.Insert(t.out, i, s)
	if len(t.out) > t.k {
		t.out = t.out[:t.k]
	}
	return true
}

func scoreOf(dist float32) float32 { return min(max(1-dist, -1), 1) }

// rerankMemory re-ranks from the vectors a purely in-memory store keeps.
// The caller holds the read lock.
func rerankMemory(v []float32, cands []pcand, k int, maxDist float32) []vectorstore.Hit {
	top := topK{k: k}
	for _, c := range cands {
		if c.lo > top.worst() {
			break
		}
		gr := c.gr
		d := distance(v, gr.vecs.row(c.slot))
		if d > maxDist {
			continue
		}
		top.add(scored{dist: d, id: gr.ids[c.slot], gr: gr, slot: c.slot, hit: vectorstore.Hit{
			Record: vectorstore.Record{
				ID:        gr.ids[c.slot],
				Namespace: gr.ns,
				Partition: gr.part,
				Meta:      gr.metas[c.slot],
				Payload:   gr.payloads[c.slot],
				ExpiresAt: expiryTime(gr.info[c.slot].expires),
			},
		}})
	}
	hits := make([]vectorstore.Hit, len(top.out))
	for i, s := range top.out {
		h := s.hit
		h.Score = scoreOf(s.dist)
		l := s.hit.Record
		h.Record.Vector = slices.Clone(s.gr.vecs.row(s.slot))
		h.Record.Meta = maps.Clone(l.Meta)
		h.Record.Payload = bytes.Clone(l.Payload)
		hits[i] = h
	}
	return hits
}

// pending is a candidate of a persistent store, captured under the read
// lock so that the bbolt reads can run without it.
type pending struct {
	lo       float32
	id       string
	seq      uint64
	ns, part string
	meta     map[string]string // immutable once stored
	expires  int64
}

// rerankDB re-ranks by reading the candidates' vectors from bbolt, in one
// read transaction that also copies the hits' payloads. A candidate whose
// record changed since it was found (replaced or deleted meanwhile) is
// dropped.
func rerankDB(tx *bbolt.Tx, dim int, v []float32, cands []pending, k int, maxDist float32, buf []float32) ([]vectorstore.Hit, error) {
	b := tx.Bucket(bucketRecords)
	top := topK{k: k}
	type raw struct {
		vec     []float32
		payload []byte
	}
	if cap(buf) < dim {
		buf = make([]float32, dim)
	}
	buf = buf[:dim]
	vals := map[string]raw{}
	for _, c := range cands {
		if c.lo > top.worst() {
			break
		}
		val := b.Get([]byte(c.id))
		if val == nil {
			continue
		}
		seq, vecAt, err := decodeHead(val, dim)
		if err != nil {
			return nil, err
		}
		if seq != c.seq {
			continue
		}
		decodeVec(val[vecAt:], buf)
		d := distance(v, buf)
		if d > maxDist {
			continue
		}
		if top.add(scored{dist: d, id: c.id, hit: vectorstore.Hit{Record: vectorstore.Record{
			ID: c.id, Namespace: c.ns, Partition: c.part, Meta: c.meta, ExpiresAt: expiryTime(c.expires),
		}}}) {
			vals[c.id] = raw{slices.Clone(buf), val[vecAt+4*dim:]}
		}
	}
	hits := make([]vectorstore.Hit, len(top.out))
	for i, s := range top.out {
		h := s.hit
		h.Score = scoreOf(s.dist)
		r := vals[s.id]
		h.Record.Vector = r.vec
		h.Record.Meta = maps.Clone(h.Record.Meta)
		if len(r.payload) > 0 {
			h.Record.Payload = bytes.Clone(r.payload)
		}
		hits[i] = h
	}
	return hits, nil
}

func decodeVec(b []byte, dst []float32) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}
