package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/semcache/semcache/engine"
)

// answersConfig holds how hits present themselves (engine.Answers): the
// marker, the usage they report, the pace of replayed streams and how many
// answers a key keeps. The per-namespace answers per key are the YAML
// file's namespace_variants: section (fileConfig.Variants). All of it reloads.
type answersConfig struct {
	HitMarker  bool
	HitUsage   string
	ReplayPace time.Duration
	Variants   int
}

func (a *answersConfig) flags(fs *flag.FlagSet) {
	fs.BoolVar(&a.HitMarker, "hit-marker", false, "add \"semcache\": {\"hit\", \"entry\", \"age\", ...} to every hit's body (a request asks alone with X-Semcache-Hit-Marker: true)")
	fs.StringVar(&a.HitUsage, "hit-usage", string(engine.DefaultHitUsage), "usage a hit reports: original (what the upstream reported) or zero (0 tokens; the original in semcache.saved_usage)")
	fs.DurationVar(&a.ReplayPace, "replay-pace", 0, "pause between the events of a replayed stream, e.g. 20ms (0: none; HTTP front only)")
	fs.IntVar(&a.Variants, "variants", 1, fmt.Sprintf("answers kept per key: the first N misses each store one, hits take turns (1..%d; namespace_variants: in the file sets it per namespace)", engine.MaxVariants))
}

// answers returns the engine's settings; validate has checked them.
func (c *config) answers() engine.Answers {
	return engine.Answers{Marker: c.HitMarker, Usage: engine.HitUsage(c.HitUsage), Pace: c.ReplayPace,
		Variants: c.Variants, NamespaceVariants: c.file.Variants}
}

// validateAnswers checks the answer settings, reporting every problem.
func (c *config) validateAnswers() []error {
	var errs []error
	a := c.answers()
	if c.Variants < 1 {
		errs = append(errs, fmt.Errorf("--variants %d: want 1..%d", c.Variants, engine.MaxVariants))
		a.Variants = 1
	}
	if err := a.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errs
}
