package main

// The outcome of Kargo's `http` promotion step for one response, following
// pkg/promotion/runner/builtin/http_requester.go and the v1.11 outcome matrix in
// kargo-notes.md §1.3:
//   - success/failure/error expressions and outputs are compiled with plain expr.Compile (no
//     functions) and run against {response: {status, header, headers, body}};
//   - a runtime error or a non-bool result of success/failure makes the step Errored
//     (non-terminal, counted against retry.errorThreshold);
//   - failure true wins: Failed with the terminal error
//     `HTTP (NNN) response met failure criteria[: "<errorExpression>"]`;
//   - success true: Succeeded with the outputs;
//   - neither expression defined: 2xx Succeeded, otherwise Failed with no error (the
//     orchestrator retries it like Running);
//   - otherwise Running (polled again after pollInterval).

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	"github.com/expr-lang/expr"
)

// HTTPResponse is a recorded or live response.
type HTTPResponse struct {
	Status  int64               `json:"status"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

// HTTPOutcome is what Kargo would record for the step.
type HTTPOutcome struct {
	Status   string         `json:"status"`
	Terminal bool           `json:"terminal"`
	Message  string         `json:"message,omitempty"`
	Outputs  map[string]any `json:"outputs,omitempty"`
}

type httpOutputSpec struct {
	Name           string `json:"name"`
	FromExpression string `json:"fromExpression"`
}

type httpStepConfig struct {
	SuccessExpression   string           `json:"successExpression"`
	FailureExpression   string           `json:"failureExpression"`
	ErrorExpression     string           `json:"errorExpression"`
	ResponseContentType string           `json:"responseContentType"`
	Outputs             []httpOutputSpec `json:"outputs"`
}

// httpStrictEnv declares `response` for the strict compile pass.
type httpStrictResponse struct {
	Status  int64               `expr:"status"`
	Header  func(string) string `expr:"header"`
	Headers map[string][]string `expr:"headers"`
	Body    any                 `expr:"body"`
}

type httpStrictEnv struct {
	Response httpStrictResponse `expr:"response"`
}

func buildHTTPEnv(cfg httpStepConfig, resp HTTPResponse) (map[string]any, error) {
	header := http.Header{}
	for k, vs := range resp.Headers {
		for _, v := range vs {
			header.Add(k, v)
		}
	}
	response := map[string]any{
		"status":  resp.Status,
		"header":  header.Get,
		"headers": header,
		"body":    map[string]any{},
	}
	ct := cfg.ResponseContentType
	if ct == "" {
		ct, _, _ = mime.ParseMediaType(header.Get("Content-Type"))
	}
	body := []byte(resp.Body)
	switch {
	case len(body) == 0:
	case ct == "text/plain":
		response["body"] = resp.Body
	case ct == "application/json" || json.Valid(body):
		var parsed any
		if err := json.Unmarshal(body, &parsed); err != nil {
			return nil, fmt.Errorf("failed to parse response: %w", err)
		}
		switch parsed.(type) {
		case map[string]any, []any:
			response["body"] = parsed
		default:
			return nil, fmt.Errorf("unexpected type when unmarshaling response: %T", parsed)
		}
	}
	return map[string]any{"response": response}, nil
}

func runBoolExpr(src string, env map[string]any) (*bool, error) {
	if src == "" {
		return nil, nil
	}
	program, err := expr.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("terminal: error compiling expression %q: %w", src, err)
	}
	out, err := expr.Run(program, env)
	if err != nil {
		return nil, fmt.Errorf("error evaluating expression %q: %w", src, err)
	}
	b, ok := out.(bool)
	if !ok {
		return nil, fmt.Errorf("expression %q did not evaluate to a boolean (got %T)", src, out)
	}
	return &b, nil
}

func runAnyExpr(src string, env map[string]any) (any, error) {
	program, err := expr.Compile(src)
	if err != nil {
		return nil, err
	}
	return expr.Run(program, env)
}

func httpStepOutcome(cfg httpStepConfig, resp HTTPResponse) HTTPOutcome {
	env, err := buildHTTPEnv(cfg, resp)
	if err != nil {
		return HTTPOutcome{Status: "Errored", Message: err.Error()}
	}
	success, err := runBoolExpr(cfg.SuccessExpression, env)
	if err != nil {
		return HTTPOutcome{Status: "Errored", Message: "error evaluating success criteria: " + err.Error()}
	}
	failure, err := runBoolExpr(cfg.FailureExpression, env)
	if err != nil {
		return HTTPOutcome{Status: "Errored", Message: "error evaluating failure criteria: " + err.Error()}
	}
	buildOutputs := func() HTTPOutcome {
		outputs := map[string]any{}
		for _, o := range cfg.Outputs {
			v, err := runAnyExpr(o.FromExpression, env)
			if err != nil {
				return HTTPOutcome{Status: "Errored", Message: fmt.Sprintf("error extracting output %q: %v", o.Name, err)}
			}
			outputs[o.Name] = v
		}
		return HTTPOutcome{Status: "Succeeded", Outputs: outputs}
	}
	switch {
	case failure != nil && *failure:
		msg := fmt.Sprintf("HTTP (%d) response met failure criteria", resp.Status)
		if cfg.ErrorExpression != "" {
			v, err := runAnyExpr(cfg.ErrorExpression, env)
			if err != nil {
				return HTTPOutcome{Status: "Errored", Message: "error evaluating error expression: " + err.Error()}
			}
			msg += fmt.Sprintf(": %q", fmt.Sprint(v))
		}
		return HTTPOutcome{Status: "Failed", Terminal: true, Message: msg}
	case success != nil && *success:
		return buildOutputs()
	case success == nil && failure == nil:
		if resp.Status >= 200 && resp.Status < 300 {
			return buildOutputs()
		}
		return HTTPOutcome{Status: "Failed", Terminal: false, Message: "non-2xx without criteria: retried"}
	default:
		return HTTPOutcome{Status: "Running"}
	}
}
