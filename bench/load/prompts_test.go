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

// covers reports whether every word of a is also in b.
func covers(a, b map[string]bool) bool {
	for w := range a {
		if !b[w] {
			return false
		}
	}
	return true
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
			var uniques []map[string]bool
			count := map[Kind]int{}
			for i, j := range jobs {
				count[j.kind]++
				switch j.kind {
				case KindUnique:
					if seen[j.prompt] {
						t.Fatalf("job %d: unique prompt %q repeats", i, j.prompt)
					}
					uniques = append(uniques, words(j.prompt))
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
					pw := words(j.prompt)
					light := false
					for _, u := range uniques {
						if len(pw)-len(u) <= 6 && covers(u, pw) {
							light = true
							break
						}
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
