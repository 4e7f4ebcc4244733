// Command exprcheck compiles and evaluates the expressions of the Kargo resources under
// kargo/ with the engine Kargo and Argo Rollouts use (github.com/expr-lang/expr, plus
// github.com/antonmedv/expr for Rollouts v1.9.x).
//
// Compile mode (default) reads a JSON array of requests on stdin:
//
//	{"env": "kargo-template",  "template": "...${{ expr }}..."}   or  {"env": ..., "expr": "..."}
//	{"env": "kargo-http-step", "expr": "...", "kind": "success|failure|error|output"}
//	{"env": "rollouts",        "expr": "...", "resultSample": <JSON>}
//
// and writes a JSON array of {"ok": bool, "error": string, "exprs": [...]} in the same order.
// A kargo-template expression must compile twice: as Kargo compiles it (its functions, no
// declared variables) and in a strict pass that also declares ctx/vars/outputs/task/stepMetas,
// so an unknown function, variable or ctx member is an error. An http-step expression must
// compile as Kargo compiles it (expr.Compile with no options) and with `response` declared.
// A Rollouts condition must compile with the Rollouts env under both engines.
//
// Eval mode (--eval) reads a JSON array of operations and writes their results:
//
//	{"op": "render", "value": <JSON tree or string>, "env": {...}, "data": {...}}
//	{"op": "http-step", "config": {...rendered step config...}, "response": {...}}
//	{"op": "web-measurement", "metric": {...}, "response": {...}}
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/expr-lang/expr"
)

type compileRequest struct {
	Env          string `json:"env"`
	Expr         string `json:"expr"`
	Template     string `json:"template"`
	Kind         string `json:"kind"`
	ResultSample any    `json:"resultSample"`
}

type compileResult struct {
	OK    bool     `json:"ok"`
	Error string   `json:"error,omitempty"`
	Exprs []string `json:"exprs,omitempty"`
}

func compileKargo(src string) error {
	if _, err := expr.Compile(src, kargoFunctions(nil)...); err != nil {
		return fmt.Errorf("as Kargo compiles it: %w", err)
	}
	opts := append(kargoFunctions(nil), expr.Env(kargoStrictEnv{}))
	if _, err := expr.Compile(src, opts...); err != nil {
		return fmt.Errorf("strict (declared ctx/vars/outputs/task): %w", err)
	}
	return nil
}

func compileHTTP(src, kind string) error {
	if _, err := expr.Compile(src); err != nil {
		return fmt.Errorf("as Kargo compiles it: %w", err)
	}
	opts := []expr.Option{expr.Env(httpStrictEnv{})}
	if kind == "success" || kind == "failure" {
		opts = append(opts, expr.AsBool())
	}
	if _, err := expr.Compile(src, opts...); err != nil {
		return fmt.Errorf("strict (response declared): %w", err)
	}
	return nil
}

func compileOne(r compileRequest) compileResult {
	switch r.Env {
	case "kargo-template":
		if r.Template != "" {
			_, exprs, err := splitTemplate(r.Template)
			if err != nil {
				return compileResult{Error: err.Error()}
			}
			if len(exprs) == 0 {
				return compileResult{Error: "no ${{ }} or ${% %} expression in template"}
			}
			var list []string
			for _, e := range exprs {
				list = append(list, e.Expr)
				if err := compileKargo(e.Expr); err != nil {
					return compileResult{Error: fmt.Sprintf("%q: %v", e.Expr, err), Exprs: list}
				}
			}
			return compileResult{OK: true, Exprs: list}
		}
		if err := compileKargo(r.Expr); err != nil {
			return compileResult{Error: err.Error()}
		}
	case "kargo-http-step":
		if err := compileHTTP(r.Expr, r.Kind); err != nil {
			return compileResult{Error: err.Error()}
		}
	case "rollouts":
		sample := r.ResultSample
		if sample == nil {
			sample = map[string]any{}
		}
		if err := compileRollouts(r.Expr, sample); err != nil {
			return compileResult{Error: err.Error()}
		}
	default:
		return compileResult{Error: fmt.Sprintf("unknown env %q", r.Env)}
	}
	return compileResult{OK: true}
}

type evalOp struct {
	Op       string         `json:"op"`
	Value    any            `json:"value"`
	Env      map[string]any `json:"env"`
	Data     *KargoData     `json:"data"`
	Config   httpStepConfig `json:"config"`
	Response HTTPResponse   `json:"response"`
	Metric   WebMetric      `json:"metric"`
}

type renderResult struct {
	OK    bool   `json:"ok"`
	Value any    `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
}

func evalOne(op evalOp) any {
	switch op.Op {
	case "render":
		data := op.Data
		if data == nil {
			data = &KargoData{}
		}
		env := op.Env
		if env == nil {
			env = map[string]any{}
		}
		v, err := renderTree(op.Value, env, kargoFunctions(data))
		if err != nil {
			return renderResult{Error: err.Error()}
		}
		return renderResult{OK: true, Value: v}
	case "http-step":
		return httpStepOutcome(op.Config, op.Response)
	case "web-measurement":
		return webMeasurement(op.Metric, op.Response)
	}
	return renderResult{Error: fmt.Sprintf("unknown op %q", op.Op)}
}

func run(stdin io.Reader, stdout io.Writer, args []string) error {
	raw, err := io.ReadAll(stdin)
	if err != nil {
		return err
	}
	var results []any
	switch {
	case len(args) == 0:
		var reqs []compileRequest
		if err := json.Unmarshal(raw, &reqs); err != nil {
			return fmt.Errorf("stdin: expected a JSON array of compile requests: %w", err)
		}
		for _, r := range reqs {
			results = append(results, compileOne(r))
		}
	case len(args) == 1 && args[0] == "--eval":
		var ops []evalOp
		if err := json.Unmarshal(raw, &ops); err != nil {
			return fmt.Errorf("stdin: expected a JSON array of eval operations: %w", err)
		}
		for _, op := range ops {
			results = append(results, evalOne(op))
		}
	default:
		return errors.New("usage: exprcheck [--eval] < requests.json")
	}
	if results == nil {
		results = []any{}
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(results)
}

func main() {
	if err := run(os.Stdin, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "exprcheck:", err)
		os.Exit(2)
	}
}
