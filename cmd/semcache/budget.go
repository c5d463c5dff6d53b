package main

import (
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/budget"
)

// openBudget builds the error-budget learner when a budget is configured
// (nil otherwise: the static cut-off), on the cache's store; its state is
// saved before the cache closes.
func (s *service) openBudget(c *cache.Cache) (*budget.Learner, error) {
	cfg := s.cfg
	if cfg.Semantic == "off" || (cfg.ErrorBudget == 0 && len(cfg.file.ErrorBudgets) == 0) {
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
