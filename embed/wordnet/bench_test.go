package wordnet

import (
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchPairs mixes the verifier's motivating pairs (examplePairs) with
// unknown words and phrases: every Relate path, from an early Same to a
// full sibling search that finds nothing.
func benchPairs() [][2]string {
	pairs := append([][2]string(nil), examplePairs...)
	return append(pairs, [2]string{"qwertyuiop", "dog"}, [2]string{"the", "a"}, [2]string{"heart rates", "pulses"},
		[2]string{"looked up", "searched"}, [2]string{"running", "ran"}, [2]string{"analyses", "analysis"})
}

// BenchmarkRelate is the verifier's call. Besides ns/op it reports the
// median and 99th percentile of single calls over the mixed pairs.
func BenchmarkRelate(b *testing.B) {
	w := testWordNet(b)
	pairs := benchPairs()
	lat := make([]time.Duration, 0, 1<<16)
	var sink int
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := pairs[i%len(pairs)]
		start := time.Now()
		sink += int(w.Relate(p[0], p[1]).Kind)
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
		i++
	}
	reportPercentiles(b, lat)
	_ = sink
}

// BenchmarkRelateByKind times each pair of the examples on its own.
func BenchmarkRelateByKind(b *testing.B) {
	w := testWordNet(b)
	for _, p := range [][2]string{{"car", "automobile"}, {"increase", "decrease"}, {"puppies", "dogs"}, {"egypt", "syria"}, {"find", "remove"}, {"start", "stop"}, {"qwertyuiop", "dog"}} {
		b.Run(strings.ReplaceAll(p[0]+"-"+p[1], " ", "_"), func(b *testing.B) {
			var sink int
			for b.Loop() {
				sink += int(w.Relate(p[0], p[1]).Kind)
			}
			_ = sink
		})
	}
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkPhrase folds collocations: "northern lights" (2), "new york
// city hall" (3), a word alone (1) and an unknown start (0).
func BenchmarkPhrase(b *testing.B) {
	w := testWordNet(b)
	inputs := [][]string{strings.Fields("northern lights are"), strings.Fields("new york city hall"), strings.Fields("dogs bark loudly now"), strings.Fields("the heart rate")}
	var sink int
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		n, _ := w.Phrase(inputs[i%len(inputs)])
		sink += n
		i++
	}
	_ = sink
}

// BenchmarkKnown is morphy over the four parts of speech.
func BenchmarkKnown(b *testing.B) {
	w := testWordNet(b)
	words := []string{"transformations", "bacteria", "iterates", "qwertyuiop", "heart rates", "fastest"}
	var sink int
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if w.Known(words[i%len(words)]) {
			sink++
		}
		i++
	}
	_ = sink
}

// BenchmarkLoad reads and validates the real file; heap-MB is the live
// heap the loaded WordNet holds.
func BenchmarkLoad(b *testing.B) {
	path := File(testDir(b))
	var w *WordNet
	var err error
	before := heapAfterGC()
	for b.Loop() {
		w, err = Load(path)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(heapAfterGC()-before)/1e6, "heap-MB")
	runtime.KeepAlive(w)
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
