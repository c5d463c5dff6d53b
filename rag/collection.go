package rag

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"
)

// Placement is where the injected context goes.
type Placement string

const (
	// PlaceSystem inserts a new message after the leading system/developer
	// messages (or first, when there are none).
	PlaceSystem Placement = "system"
	// PlaceBeforeLastUser inserts it right before the last user message.
	PlaceBeforeLastUser Placement = "before_last_user"
)

// DefaultTemplate renders the passages into the injected message. Its data
// is TemplateData.
const DefaultTemplate = `Use the following context to answer the user's question. If the context does not contain the answer, say so instead of guessing.
{{range .Passages}}
[{{.ID}}]{{with .Title}} {{.}}{{end}}{{with .Heading}} — {{.}}{{end}}
{{.Text}}
{{end}}`

// Defaults of a Collection's zero fields.
const (
	DefaultK        = 4
	DefaultMinScore = 0.2
	DefaultMaxChars = 6000
)

// Collection is a document collection and how requests use it.
type Collection struct {
	// Name is lower-case letters, digits, '-' and '_' (max 64), starting
	// with a letter or digit.
	Name string `yaml:"name" json:"name"`
	// Namespaces may retrieve from it: a namespace as the engine derives it
	// ("tenant:acme", "key:<hash>", the shared namespace), a bare tenant
	// name, or "*" for all.
	Namespaces []string `yaml:"namespaces" json:"namespaces"`
	// K is how many passages to retrieve (default 4, max 50).
	K int `yaml:"k" json:"k"`
	// MinScore is the cosine floor of a passage (default 0.2; negative
	// means no floor).
	MinScore *float32 `yaml:"min_score" json:"min_score,omitempty"`
	// Filter restricts retrieval to chunks whose metadata match every
	// pair (keys: doc_id, source, title, position, hash).
	Filter map[string]string `yaml:"filter" json:"filter,omitempty"`
	// Template is a Go text/template over TemplateData (default
	// DefaultTemplate).
	Template string `yaml:"template" json:"template,omitempty"`
	// Placement: system (default) or before_last_user.
	Placement Placement `yaml:"placement" json:"placement,omitempty"`
	// Role of the injected message (default system).
	Role string `yaml:"role" json:"role,omitempty"`
	// MaxChars bounds the injected message in characters (default 6000);
	// MaxTokens, when set, in estimated tokens too. Passages that do not
	// fit are left out; a lone first passage is shortened.
	MaxChars  int `yaml:"max_chars" json:"max_chars,omitempty"`
	MaxTokens int `yaml:"max_tokens" json:"max_tokens,omitempty"`
	// Disabled keeps the collection ingestible but never injected.
	Disabled bool `yaml:"disabled" json:"disabled,omitempty"`
}

// collection is a validated Collection.
type collection struct {
	Collection
	minScore float32
	tmpl     *template.Template
}

var roles = []string{"system", "developer", "user", "assistant"}

// compile validates c and fills defaults.
func (c Collection) compile() (*collection, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("collection %q: "+format, append([]any{c.Name}, args...)...))
	}
	if !ValidCollectionName(c.Name) {
		bad("name must be 1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit")
	}
	if len(c.Namespaces) == 0 && !c.Disabled {
		bad("namespaces: bind at least one namespace (a tenant name, \"tenant:NAME\", \"key:HASH\" or \"*\")")
	}
	for _, ns := range c.Namespaces {
		if strings.TrimSpace(ns) == "" || ns != strings.TrimSpace(ns) {
			bad("namespace %q must be non-empty without surrounding spaces", ns)
		}
	}
	switch {
	case c.K == 0:
		c.K = DefaultK
	case c.K < 1 || c.K > 50:
		bad("k %d: want 1..50", c.K)
	}
	out := &collection{minScore: DefaultMinScore}
	if c.MinScore != nil {
		out.minScore = *c.MinScore
		if out.minScore > 1 || out.minScore != out.minScore {
			bad("min_score %v: want at most 1", *c.MinScore)
		}
		if out.minScore < -1 {
			out.minScore = -1
		}
	}
	switch c.Placement {
	case "":
		c.Placement = PlaceSystem
	case PlaceSystem, PlaceBeforeLastUser:
	default:
		bad("placement %q: want system or before_last_user", c.Placement)
	}
	switch {
	case c.Role == "":
		c.Role = "system"
	case !slices.Contains(roles, c.Role):
		bad("role %q: want one of %s", c.Role, strings.Join(roles, ", "))
	}
	switch {
	case c.MaxChars == 0:
		c.MaxChars = DefaultMaxChars
	case c.MaxChars < 100:
		bad("max_chars %d: want at least 100", c.MaxChars)
	}
	if c.MaxTokens != 0 && c.MaxTokens < 25 {
		bad("max_tokens %d: want 0 (no limit) or at least 25", c.MaxTokens)
	}
	if c.Template == "" {
		c.Template = DefaultTemplate
	}
	tmpl, err := template.New(c.Name).Option("missingkey=error").Parse(c.Template)
	if err != nil {
		bad("template: %w", err)
	} else if err := tmpl.Execute(discard{}, sampleData); err != nil {
		bad("template: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out.Collection, out.tmpl = c, tmpl
	return out, nil
}

// ValidateCollections checks a collection list and reports every problem.
func ValidateCollections(cs []Collection) error {
	var errs []error
	seen := map[string]bool{}
	for _, c := range cs {
		if _, err := c.compile(); err != nil {
			errs = append(errs, err)
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("collection %q: defined twice", c.Name))
		}
		seen[c.Name] = true
	}
	return errors.Join(errs...)
}

var sampleData = TemplateData{Query: "q", Passages: []Passage{{ID: "c/d#0", Collection: "c", DocID: "d", Source: "s", Title: "t", Text: "x", Score: 1}}}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// binds reports whether a collection bound to bindings serves namespace ns.
func binds(bindings []string, ns string) bool {
	for _, b := range bindings {
		if b == "*" || b == ns || "tenant:"+b == ns {
			return true
		}
	}
	return false
}
