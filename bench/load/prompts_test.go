package load

import (
	"math"
	"strings"
	"testing"
	"unicode"
)

func words(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		out[w] = true
	}
	return out
}

// overlap is the fraction of a's words that are also in b.
func overlap(a, b string) float64 {
	wa, wb := words(a), words(b)
	n := 0
	for w := range wa {
		if wb[w] {
			n++
		}
	}
	return float64(n) / float64(len(wa))
}

func TestPlanJobs(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		dup, para float64
	}{
		{"all unique", 300, 0, 0},
		{"mixed", 1000, 0.3, 0.2},
		{"mostly duplicates", 500, 0.9, 0},
		{"mostly paraphrases", 500, 0, 0.8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs := planJobs(tt.n, tt.dup, tt.para, 42)
			if len(jobs) != tt.n || jobs[0].kind != KindUnique {
				t.Fatalf("%d jobs, first %v", len(jobs), jobs[0].kind)
			}
			seen := map[string]bool{}
			var uniques []string
			count := map[Kind]int{}
			for i, j := range jobs {
				count[j.kind]++
				switch j.kind {
				case KindUnique:
					if seen[j.prompt] {
						t.Fatalf("job %d: unique prompt %q repeats", i, j.prompt)
					}
					uniques = append(uniques, j.prompt)
				case KindDuplicate:
					if !seen[j.prompt] {
						t.Fatalf("job %d: duplicate %q was not sent before", i, j.prompt)
					}
				case KindParaphrase:
					if seen[j.prompt] {
						t.Fatalf("job %d: paraphrase %q repeats an earlier prompt exactly", i, j.prompt)
					}
					// Light: some earlier unique prompt keeps all its words and
					// gains at most a polite prefix and suffix.
					light := false
					for _, u := range uniques {
						added := len(words(j.prompt)) - len(words(u))
						light = light || (overlap(u, j.prompt) == 1 && added <= 6)
					}
					if !light {
						t.Errorf("job %d: paraphrase %q is not a light rewording of an earlier prompt", i, j.prompt)
					}
				}
				seen[j.prompt] = true
			}
			for kind, want := range map[Kind]float64{KindDuplicate: tt.dup, KindParaphrase: tt.para} {
				if got := float64(count[kind]) / float64(tt.n); math.Abs(got-want) > 0.06 {
					t.Errorf("%s fraction %.3f, want about %.2f", kind, got, want)
				}
			}
		})
	}
}

func TestPlanJobsIsReproducible(t *testing.T) {
	a, b, c := planJobs(50, 0.3, 0.3, 1), planJobs(50, 0.3, 0.3, 1), planJobs(50, 0.3, 0.3, 2)
	same, differ := true, false
	for i := range a {
		same = same && a[i] == b[i]
		differ = differ || a[i] != c[i]
	}
	if !same {
		t.Error("same seed gave different plans")
	}
	if !differ {
		t.Error("different seeds gave the same plan")
	}
}
