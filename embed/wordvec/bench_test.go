package wordvec

import (
	"runtime"
	"testing"
	"unsafe"
)

// benchPairs are word pairs of the kind the verifier compares.
var benchPairs = [][2]string{
	{"goal", "purpose"}, {"transformations", "transforms"}, {"traversed", "iterates"},
	{"Python", "java"}, {"increase", "decrease"}, {"list", "array"}, {"unknownwordxyz", "goal"},
}

// BenchmarkSimilarity is the verifier's hot path: two case-insensitive
// lookups and one int8 dot product.
func BenchmarkSimilarity(b *testing.B) {
	v := testVectors(b)
	var sink float32
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := benchPairs[i%len(benchPairs)]
		s, _ := v.Similarity(p[0], p[1])
		sink += s
		i++
	}
	_ = sink
}

// BenchmarkCosine is the dot product alone, for vectors looked up once.
func BenchmarkCosine(b *testing.B) {
	v := testVectors(b)
	x, _ := v.Vector("goal")
	y, _ := v.Vector("purpose")
	var sink float32
	for b.Loop() {
		sink += x.Cosine(y)
	}
	_ = sink
}

// BenchmarkLookup compares the in-file open-addressed table with a Go map
// built at load time (the alternative that was not chosen): lookup speed
// here, build time and heap in BenchmarkGoMapBuild.
func BenchmarkLookup(b *testing.B) {
	v := testVectors(b)
	words := lookupWords(v)
	b.Run("table", func(b *testing.B) {
		hits := 0
		i := 0
		for b.Loop() {
			if _, ok := v.lookup(words[i%len(words)]); ok {
				hits++
			}
			i++
		}
		if hits == 0 {
			b.Fatal("no hits")
		}
	})
	m := goMap(v)
	b.Run("gomap-lowercase-input", func(b *testing.B) {
		hits := 0
		i := 0
		for b.Loop() {
			if _, ok := m[words[i%len(words)]]; ok {
				hits++
			}
			i++
		}
		if hits == 0 {
			b.Fatal("no hits")
		}
	})
	// What Vector would do with a map: fold the case into a stack
	// buffer first (the table folds while hashing).
	b.Run("gomap-folded", func(b *testing.B) {
		hits := 0
		i := 0
		var buf [maxWordLen]byte
		for b.Loop() {
			w := words[i%len(words)]
			n := copy(buf[:], w)
			for j := range n {
				buf[j] = lower(buf[j])
			}
			if _, ok := m[string(buf[:n])]; ok {
				hits++
			}
			i++
		}
		if hits == 0 {
			b.Fatal("no hits")
		}
	})
}

// lookupWords mixes frequent, rare and unknown words.
func lookupWords(v *Vectors) []string {
	var words []string
	for i := 0; i < v.Len(); i += v.Len() / 997 {
		words = append(words, string(v.word(i)))
	}
	return append(words, "unknownwordxyz", "zzzzq", "transformationsx")
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func goMap(v *Vectors) map[string]int32 {
	m := make(map[string]int32, v.Len())
	for i := range v.Len() {
		// The keys alias the file's bytes, as a real implementation would.
		w := v.word(i)
		m[unsafeString(w)] = int32(i)
	}
	return m
}

// BenchmarkGoMapBuild reports what a Go map index would add to Load.
func BenchmarkGoMapBuild(b *testing.B) {
	v := testVectors(b)
	var m map[string]int32
	before := heapAfterGC()
	for b.Loop() {
		m = goMap(v)
	}
	b.ReportMetric(float64(heapAfterGC()-before)/1e6, "heap-MB")
	runtime.KeepAlive(m)
}

// BenchmarkLoad reads and validates the real file; heap-MB is the live
// heap the loaded Vectors hold.
func BenchmarkLoad(b *testing.B) {
	path := File(testDir(b))
	var v *Vectors
	var err error
	before := heapAfterGC()
	for b.Loop() {
		v, err = Load(path)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(heapAfterGC()-before)/1e6, "heap-MB")
	runtime.KeepAlive(v)
}

// BenchmarkNearest is the brute-force scan (debugging only).
func BenchmarkNearest(b *testing.B) {
	v := testVectors(b)
	for b.Loop() {
		if len(v.Nearest("python", 10)) != 10 {
			b.Fatal("short result")
		}
	}
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
