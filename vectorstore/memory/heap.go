package memory

import "unsafe"

// cand is a graph node (slot) with its distance to the current query.
// Distances are 1 - cosine, so smaller is closer.
type cand struct {
	dist float32
	id   uint32
}

// minHeap pops the closest candidate first.
type minHeap []cand

func (h *minHeap) push(c cand) {
	*h = append(*h, c)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].dist <= s[i].dist {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *minHeap) pop() cand {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].dist < s[l].dist {
			m = r
		}
		if s[i].dist <= s[m].dist {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// maxHeap keeps the farthest candidate on top, so a bounded result set can
// evict its worst member.
type maxHeap []cand

func (h *maxHeap) push(c cand) {
	*h = append(*h, c)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].dist >= s[i].dist {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *maxHeap) pop() cand {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].dist > s[l].dist {
			m = r
		}
		if s[i].dist >= s[m].dist {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

func (h maxHeap) top() cand { return h[0] }

// pushBounded inserts c while keeping at most k members.
func (h *maxHeap) pushBounded(c cand, k int) {
	if len(*h) < k {
		h.push(c)
		return
	}
	if c.dist >= (*h)[0].dist {
		return
	}
	(*h)[0] = c
	// sift down the replaced root
	s := *h
	n := len(s)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].dist > s[l].dist {
			m = r
		}
		if s[i].dist >= s[m].dist {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
}

// sorted empties the heap and returns its members closest first.
func (h *maxHeap) sorted() []cand {
	out := make([]cand, len(*h))
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = h.pop()
	}
	return out
}

// visited is a generation-stamped set of slots, reused across searches so
// a search allocates nothing proportional to the graph size.
type visited struct {
	marks []uint32
	gen   uint32
}

func (v *visited) reset(n int) {
	if len(v.marks) < n {
		v.marks = make([]uint32, n+n/4)
		v.gen = 0
	}
	v.gen++
	if v.gen == 0 {
		clear(v.marks)
		v.gen = 1
	}
}

// visit marks id and reports whether it was already marked.
func (v *visited) visit(id uint32) bool {
	if v.marks[id] == v.gen {
		return true
	}
	v.marks[id] = v.gen
	return false
}

// scratch is per-search working memory, pooled.
type scratch struct {
	vis  visited
	cand minHeap
	res  maxHeap
	// dists counts approximate distance computations.
	dists int
	raw   []int32
	ptrs  []unsafe.Pointer
	nb    []uint32
	nd    []float32
	sel   []uint32
	seld  []float32
	// pruned holds the candidates selectNeighbors discarded.
	pruned []uint32
	// qnode is the query code of a stored node (construction).
	qnode queryCode
	pool  pool
	vec   []float32
	// eps holds a walk's entry points on layer 0.
	eps []cand
}
