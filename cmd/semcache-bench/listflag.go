package main

import "strings"

// listFlag is a flag that may be repeated and takes comma-separated lists:
// "--pairs a.jsonl,b.jsonl --pairs c.jsonl" gives the three files. The
// first explicit value replaces the default.
type listFlag struct {
	values []string
	set    bool
}

func newListFlag(defaults ...string) *listFlag { return &listFlag{values: defaults} }

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.values, ",")
}

func (l *listFlag) Set(s string) error {
	if !l.set {
		l.values, l.set = nil, true
	}
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			l.values = append(l.values, v)
		}
	}
	return nil
}
