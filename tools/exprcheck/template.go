package main

// Rendering of Kargo `${{ }}` / `${% %}` templates, following the behaviour documented in
// akuity/kargo pkg/expressions/json_templates.go (v1.11.2):
//   - a value without a start delimiter is returned untouched (no type coercion);
//   - each expression is compiled with the Kargo functions and run against the env; a string
//     result is inserted as is, any other result as its JSON encoding;
//   - an expression ends at the FIRST end delimiter after its start;
//   - the assembled text loses one trailing newline; if it is then wrapped in double quotes the
//     quotes are stripped and the result stays a string; otherwise it becomes a float64 if it
//     parses as one, else a bool if it parses as one, else the decoded JSON value if it is
//     valid JSON, else the string (with its trailing newline restored).

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
)

type delimiter struct{ start, end string }

var delimiters = []delimiter{{"${{", "}}"}, {"${%", "%}"}}

// TemplateExpression is one expression found in a template value.
type TemplateExpression struct {
	Expr  string `json:"expr"`
	Start string `json:"start"`
}

// splitTemplate returns the text pieces and expressions of a template, or an error for an
// unclosed expression.
func splitTemplate(tpl string) (texts []string, exprs []TemplateExpression, err error) {
	rest := tpl
	for {
		idx, d := -1, delimiter{}
		for _, cand := range delimiters {
			if i := strings.Index(rest, cand.start); i >= 0 && (idx < 0 || i < idx) {
				idx, d = i, cand
			}
		}
		if idx < 0 {
			texts = append(texts, rest)
			return texts, exprs, nil
		}
		body := rest[idx+len(d.start):]
		end := strings.Index(body, d.end)
		if end < 0 {
			return nil, nil, fmt.Errorf("unclosed expression: expected %q but reached end of template", d.end)
		}
		texts = append(texts, rest[:idx])
		exprs = append(exprs, TemplateExpression{Expr: body[:end], Start: d.start})
		rest = body[end+len(d.end):]
	}
}

func hasDelimiter(s string) bool {
	for _, d := range delimiters {
		if strings.Contains(s, d.start) {
			return true
		}
	}
	return false
}

// renderTemplate evaluates one template value the way Kargo does.
func renderTemplate(tpl string, env map[string]any, opts []expr.Option) (any, error) {
	if !hasDelimiter(tpl) {
		return tpl, nil
	}
	texts, exprs, err := splitTemplate(tpl)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for i, e := range exprs {
		b.WriteString(texts[i])
		program, err := expr.Compile(e.Expr, opts...)
		if err != nil {
			return nil, err
		}
		out, err := expr.Run(program, env)
		if err != nil {
			return nil, err
		}
		if s, ok := out.(string); ok {
			b.WriteString(s)
			continue
		}
		j, err := json.Marshal(out)
		if err != nil {
			return nil, err
		}
		b.Write(j)
	}
	b.WriteString(texts[len(texts)-1])
	return coerce(b.String()), nil
}

func coerce(result string) any {
	removedNewline := false
	if strings.HasSuffix(result, "\n") {
		result = strings.TrimSuffix(result, "\n")
		removedNewline = true
	}
	restore := func(s string) string {
		if removedNewline {
			return s + "\n"
		}
		return s
	}
	if len(result) > 1 && strings.HasPrefix(result, `"`) && strings.HasSuffix(result, `"`) {
		return restore(result[1 : len(result)-1])
	}
	if f, err := strconv.ParseFloat(result, 64); err == nil {
		return f
	}
	if b, err := strconv.ParseBool(result); err == nil {
		return b
	}
	var v any
	if err := json.Unmarshal([]byte(result), &v); err == nil {
		return v
	}
	return restore(result)
}

// renderTree evaluates every string value (never a key) of a JSON-like tree in place.
func renderTree(node any, env map[string]any, opts []expr.Option) (any, error) {
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			r, err := renderTree(v, env, opts)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			n[k] = r
		}
		return n, nil
	case []any:
		for i, v := range n {
			r, err := renderTree(v, env, opts)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			n[i] = r
		}
		return n, nil
	case string:
		return renderTemplate(n, env, opts)
	default:
		return n, nil
	}
}
