package main

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/semcache/semcache/engine"
)

// cacheRules is the cache_rules section of the config file: the
// operator's "should this be cached" policy (engine.NewRules). It is
// decoded strictly, so a misspelt condition is an error rather than a
// rule that silently matches everything.
type cacheRules struct {
	node  yaml.Node
	rules *engine.Rules // derived by validateRules
}

// UnmarshalYAML keeps the section for validateRules.
func (r *cacheRules) UnmarshalYAML(n *yaml.Node) error {
	r.node = *n
	return nil
}

// validateRules decodes and validates cache_rules, reporting every
// problem.
func (c *config) validateRules() []error {
	r := &c.file.CacheRules
	r.rules = nil
	if r.node.Kind == 0 {
		return nil
	}
	b, err := yaml.Marshal(&r.node)
	if err != nil {
		return []error{fmt.Errorf("cache_rules: %w", err)}
	}
	var cfgs []engine.RuleConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfgs); err != nil {
		return []error{fmt.Errorf("cache_rules: %w", err)}
	}
	rules, err := engine.NewRules(cfgs)
	if err != nil {
		return []error{err}
	}
	r.rules = rules
	return nil
}
