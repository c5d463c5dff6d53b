package budgetrun

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/bench/eval"
	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/budget"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/proxy"
	"github.com/semcache/semcache/vectorstore/memory"
)

// SemanticFunc builds the similarity tier (simtier.Options in the
// command) from the embedder's index.
type SemanticFunc func(idx cache.Index) (cache.SemanticOptions, error)

// Options configure a run.
type Options struct {
	// Budget is the error budget (0: none, the static cut-off).
	Budget float64
	// MaxExploreFraction caps explorations (0: the learner's default).
	MaxExploreFraction float64
	Semantic           SemanticFunc
	Dimension          int
	Classes            eval.ClassMap
	// Dir holds the cache's disk tier and vector store.
	Dir string
	// RestartAt, when positive, closes the whole service after that many
	// requests and opens it again on the same directory.
	RestartAt int
	Seed      uint64
}

// Outcome of one request.
type Outcome struct {
	Tier     string // "exact", "semantic" or ""
	Right    bool   // the served answer's class is the query's
	Explored bool
	// Candidate: a semantic candidate was decided (served or not), with
	// its score and whether serving it was right.
	Candidate      bool
	Score          float64
	CandidateRight bool
	// Entry is the id of the entry served, or of the candidate refused
	// ("" when there was none); EntryText the prompt that stored it.
	Entry, EntryText string
	// Decision is the learner's on the candidate (budgeted runs), with
	// what the candidate's entry had shown and whether it came through an
	// alias.
	Decision, Evidence, ScoreKind string
	Alias                         bool
}

// service is semcache in process.
type service struct {
	last   *traced
	c      *cache.Cache
	idx    *memory.Store
	eng    *engine.Engine
	l      *budget.Learner
	api    *httptest.Server
	client *http.Client
}

// traced is the learner's last decision (the stream is sent one request
// at a time).
type traced struct {
	mu sync.Mutex
	c  budget.Candidate
	d  budget.Decision
	ok bool
}

func (t *traced) take() (budget.Candidate, budget.Decision, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, d, ok := t.c, t.d, t.ok
	t.ok = false
	return c, d, ok
}

func open(o Options, upURL string, last *traced) (*service, error) {
	idx, err := memory.Open(context.Background(), memory.Options{Dir: filepath.Join(o.Dir, "vectors"), Dimension: o.Dimension})
	if err != nil {
		return nil, err
	}
	sem, err := o.Semantic(idx)
	if err != nil {
		idx.Close()
		return nil, err
	}
	c, err := cache.Open(cache.Options{Dir: o.Dir, Semantic: &sem, QueueSize: 1 << 16})
	if err != nil {
		idx.Close()
		return nil, err
	}
	s := &service{c: c, idx: idx, last: last}
	if o.Budget > 0 {
		rng := newRand(o.Seed)
		s.l, err = budget.New(budget.Options{Default: o.Budget, MaxExploreFraction: o.MaxExploreFraction, Store: c.BudgetStore(), Rand: rng,
			Trace: func(c budget.Candidate, d budget.Decision) {
				last.mu.Lock()
				last.c, last.d, last.ok = c, d, true
				last.mu.Unlock()
			}})
		if err != nil {
			s.close()
			return nil, err
		}
	}
	m := engine.NewMetrics(prometheus.NewRegistry(), 0, nil)
	s.eng, err = engine.New(engine.Options{Cache: c, Metrics: m, Budget: s.l, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		s.close()
		return nil, err
	}
	u, _ := url.Parse(upURL + "/v1")
	srv, err := proxy.NewServer(proxy.ServerOptions{Engine: s.eng, Upstream: u, UpstreamTimeout: 30 * time.Second})
	if err != nil {
		s.close()
		return nil, err
	}
	s.api = httptest.NewServer(srv)
	s.client = s.api.Client()
	return s, nil
}

func (s *service) close() {
	if s.api != nil {
		s.api.Close()
	}
	if s.eng != nil {
		s.eng.WaitLabels()
	}
	if s.l != nil {
		_ = s.l.Flush()
	}
	_ = s.c.Flush(context.Background())
	_ = s.c.Close()
	_ = s.idx.Close()
}

// Run sends the stream and returns an outcome per request.
func Run(ctx context.Context, stream []Request, o Options) ([]Outcome, *budget.NamespaceStats, error) {
	up := httptest.NewServer(upstream.New(upstream.Options{Answerer: eval.Oracle(o.Classes)}))
	defer up.Close()
	last := &traced{}
	s, err := open(o, up.URL, last)
	if err != nil {
		return nil, nil, err
	}
	defer func() { s.close() }()
	classOfEntry := map[string]eval.ClassID{}
	textOfEntry := map[string]string{}
	out := make([]Outcome, len(stream))
	for i, r := range stream {
		if o.RestartAt > 0 && i == o.RestartAt {
			s.close()
			if s, err = open(o, up.URL, last); err != nil {
				return nil, nil, err
			}
		}
		oc, entry, ans, err := s.ask(ctx, r)
		if err != nil {
			return nil, nil, fmt.Errorf("budgetrun: request %d: %w", i, err)
		}
		served, _ := eval.ParseAnswer(ans)
		oc.Right = served == r.Class
		if oc.Tier == "" {
			classOfEntry[entry] = r.Class
			textOfEntry[entry] = r.Text
		}
		switch {
		case oc.Tier == "semantic":
			oc.Entry = entry
		case oc.cand != "":
			oc.Entry = oc.cand
		}
		oc.EntryText = textOfEntry[oc.Entry]
		if c, d, ok := last.take(); ok {
			oc.Decision, oc.Evidence, oc.ScoreKind, oc.Alias = d.Action.String(), d.Evidence.String(), c.Kind, c.Alias
		}
		if oc.Candidate {
			cls, ok := classOfEntry[oc.candEntry()]
			if oc.Tier == "semantic" {
				cls, ok = served, true
			}
			oc.CandidateRight = ok && cls == r.Class
		}
		out[i] = oc.Outcome
		if i%64 == 63 {
			s.eng.WaitLabels() // labels land before the next decisions, as on a live server between bursts
		}
	}
	s.eng.WaitLabels()
	var st *budget.NamespaceStats
	if s.l != nil {
		for _, x := range s.l.Snapshot() {
			x := x
			st = &x
		}
	}
	return out, st, nil
}

type asked struct {
	Outcome
	cand string
}

func (a asked) candEntry() string { return a.cand }

func (s *service) ask(ctx context.Context, r Request) (asked, string, string, error) {
	body, _ := json.Marshal(map[string]any{"model": r.Model, "messages": []map[string]string{{"role": "user", "content": r.Text}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.api.URL+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return asked{}, "", "", err
	}
	req.Header.Set("Authorization", "Bearer budget-bench")
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return asked{}, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return asked{}, "", "", err
	}
	if resp.StatusCode != http.StatusOK {
		return asked{}, "", "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	var cr struct {
		Choices []struct {
			Message struct{ Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &cr); err != nil || len(cr.Choices) == 0 {
		return asked{}, "", "", fmt.Errorf("bad answer %q", b)
	}
	var a asked
	switch resp.Header.Get("X-Semcache") {
	case "hit-exact":
		a.Tier = "exact"
	case "hit-semantic":
		a.Tier = "semantic"
		a.Candidate = true
		a.Score, _ = strconv.ParseFloat(resp.Header.Get("X-Semcache-Score"), 64)
	}
	if c := resp.Header.Get("X-Semcache-Candidate"); c != "" {
		id, score, _ := strings.Cut(c, "; score=")
		a.Candidate, a.cand = true, id
		a.Score, _ = strconv.ParseFloat(score, 64)
	}
	a.Explored = resp.Header.Get("X-Semcache-Explore") == "true"
	return a, resp.Header.Get("X-Semcache-Entry"), cr.Choices[0].Message.Content, nil
}

// Report sums a run up.
type Report struct {
	Budget                           float64
	Requests, Semantic, Wrong, Exact int
	WrongRate                        eval.Interval
	HitRate                          float64 // semantic hits per request
	// AllHitRate is every hit (exact and semantic) per request: the
	// upstream calls saved. A refused paraphrase is stored under its own
	// wording, so its repeats become exact hits; under a fixed cut-off
	// they are semantic hits through the alias the hit made.
	AllHitRate float64
	Explored   int
	Candidates int
	// Hindsight is the best fixed cut-off on the run's candidate scores
	// for the budget: its semantic hits per request and the cut-off.
	HindsightHitRate, HindsightCutoff float64
	HindsightWrong                    eval.Interval
	// Cutoff is the fixed cut-off of the run (set by the caller).
	Cutoff float64
}

// Summarise computes the report of a run.
func Summarise(budgetEps float64, out []Outcome) Report {
	r := Report{Budget: budgetEps, Requests: len(out)}
	type cand struct {
		s     float64
		right bool
	}
	var cs []cand
	for _, o := range out {
		switch o.Tier {
		case "semantic":
			r.Semantic++
			if !o.Right {
				r.Wrong++
			}
		case "exact":
			r.Exact++
		}
		if o.Explored {
			r.Explored++
		}
		if o.Candidate {
			r.Candidates++
			cs = append(cs, cand{o.Score, o.CandidateRight})
		}
	}
	r.WrongRate = eval.Wilson(r.Wrong, r.Semantic)
	r.HitRate = float64(r.Semantic) / float64(max(r.Requests, 1))
	r.AllHitRate = float64(r.Semantic+r.Exact) / float64(max(r.Requests, 1))
	slices.SortFunc(cs, func(a, b cand) int { return cmp.Compare(b.s, a.s) })
	wrong, best, bestWrong := 0, 0, 0
	r.HindsightCutoff = 1
	for i, c := range cs {
		if !c.right {
			wrong++
		}
		if (i+1 == len(cs) || cs[i+1].s != c.s) && float64(wrong) <= budgetEps*float64(i+1) {
			best, bestWrong, r.HindsightCutoff = i+1, wrong, c.s
		}
	}
	r.HindsightHitRate = float64(best) / float64(max(r.Requests, 1))
	r.HindsightWrong = eval.Wilson(bestWrong, best)
	return r
}
