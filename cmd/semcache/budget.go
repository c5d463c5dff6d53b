package main

import (
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/budget"
)

// openBudget builds the error-budget learner whenever the similarity tier
// is on (nil otherwise), on the cache's store; its state is saved before
// the cache closes. Namespaces without a budget keep the static cut-off;
// a reload can give them one (Learner.SetBudgets), so the learner is there
// even when none is configured at start.
func (s *service) openBudget(c *cache.Cache) (*budget.Learner, error) {
	cfg := s.cfg
	if cfg.Semantic == "off" {
		return nil, nil
	}
	l, err := budget.New(budget.Options{
		Default:            cfg.ErrorBudget,
		Budgets:            cfg.file.ErrorBudgets,
		MaxExploreFraction: cfg.VerifyMaxFraction,
		Store:              c.BudgetStore(),
		Logger:             s.log,
	})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, l.Flush)
	return l, nil
}
