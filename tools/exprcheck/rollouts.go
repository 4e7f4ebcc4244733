package main

// Argo Rollouts `web` metric provider: condition environment and one measurement, following
// argoproj/argo-rollouts utils/evaluate/evaluate.go (EvalCondition, EvaluateResult) and
// metricproviders/webmetric/webmetric.go (parseResponse, getValue) as of v1.9.x:
//   - non-2xx status: Error, body not evaluated;
//   - a body that is not JSON: Successful WITHOUT evaluating the conditions (v1.9.1 behaviour);
//   - jsonPath (k8s.io/client-go/util/jsonpath, default "{$}") not found: Error;
//   - the first match is `result`; conditions are compiled with expr.Env(env) where env holds
//     result, asInt, asFloat, isNaN, isInf, isNil, default; a non-bool result is an Error;
//   - only successCondition: not success -> Failed; only failureCondition: not failure ->
//     Successful; both and neither true -> Inconclusive; failure true -> Failed.
// Rollouts v1.9.1 imports github.com/antonmedv/expr (the module's pre-rename path; v1.15.5 is
// its last release); master imports github.com/expr-lang/expr. Conditions are compiled with both.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"

	antonexpr "github.com/antonmedv/expr"
	"github.com/expr-lang/expr"
	"k8s.io/client-go/util/jsonpath"
)

func rolloutsIsNil(in any) bool {
	if in == nil {
		return true
	}
	switch reflect.TypeOf(in).Kind() {
	case reflect.Ptr, reflect.Map, reflect.Array, reflect.Chan, reflect.Slice:
		return reflect.ValueOf(in).IsNil()
	}
	return false
}

func rolloutsValueFromPointer(in any) any {
	if rolloutsIsNil(in) {
		return nil
	}
	if reflect.TypeOf(in).Kind() != reflect.Ptr {
		return in
	}
	return reflect.ValueOf(in).Elem().Interface()
}

func rolloutsAsInt(in any) int64 {
	switch i := in.(type) {
	case float64:
		return int64(i)
	case int64:
		return i
	case int:
		return int64(i)
	case string:
		v, err := strconv.ParseInt(i, 10, 64)
		if err == nil {
			return v
		}
		panic(err)
	}
	panic(fmt.Sprintf("asInt() not supported on %v %v", reflect.TypeOf(in), in))
}

func rolloutsAsFloat(in any) float64 {
	switch i := in.(type) {
	case float64:
		return i
	case int64:
		return float64(i)
	case int:
		return float64(i)
	case string:
		v, err := strconv.ParseFloat(i, 64)
		if err == nil {
			return v
		}
		panic(err)
	}
	panic(fmt.Sprintf("asFloat() not supported on %v %v", reflect.TypeOf(in), in))
}

// rolloutsEnv is the map Rollouts passes both to expr.Env (compile) and expr.Run.
func rolloutsEnv(result any) map[string]any {
	return map[string]any{
		"result":  rolloutsValueFromPointer(result),
		"asInt":   rolloutsAsInt,
		"asFloat": rolloutsAsFloat,
		"isNaN":   math.IsNaN,
		"isInf":   func(f float64) bool { return math.IsInf(f, 0) },
		"isNil":   func(any) bool { return rolloutsIsNil(result) },
		"default": func(_ any, def any) any {
			if rolloutsIsNil(result) {
				return def
			}
			return rolloutsValueFromPointer(result)
		},
	}
}

// compileRollouts compiles a condition the way both Rollouts engines do, for a result shaped
// like resultSample.
func compileRollouts(condition string, resultSample any) error {
	env := rolloutsEnv(resultSample)
	if _, err := antonexpr.Compile(condition, antonexpr.Env(env)); err != nil {
		return fmt.Errorf("antonmedv/expr v1.15.5 (Rollouts v1.9.x): %w", err)
	}
	if _, err := expr.Compile(condition, expr.Env(env)); err != nil {
		return fmt.Errorf("expr-lang/expr v1.17.8 (Rollouts master): %w", err)
	}
	return nil
}

func evalRolloutsCondition(condition string, result any) (bool, error) {
	env := rolloutsEnv(result)
	program, err := antonexpr.Compile(condition, antonexpr.Env(env))
	if err != nil {
		return false, err
	}
	out, err := antonexpr.Run(program, env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("expected bool, but got %T", out)
	}
	return b, nil
}

// WebMetric is the part of an AnalysisTemplate metric a measurement needs.
type WebMetric struct {
	SuccessCondition string `json:"successCondition"`
	FailureCondition string `json:"failureCondition"`
	Provider         struct {
		Web struct {
			JSONPath string `json:"jsonPath"`
		} `json:"web"`
	} `json:"provider"`
}

// Measurement is one web-provider measurement.
type Measurement struct {
	Phase   string `json:"phase"`
	Value   string `json:"value,omitempty"`
	Message string `json:"message,omitempty"`
}

func evaluatePhase(metric WebMetric, result any) (string, error) {
	var success, failure bool
	var err error
	if metric.SuccessCondition != "" {
		if success, err = evalRolloutsCondition(metric.SuccessCondition, result); err != nil {
			return "Error", err
		}
	}
	if metric.FailureCondition != "" {
		if failure, err = evalRolloutsCondition(metric.FailureCondition, result); err != nil {
			return "Error", err
		}
	}
	switch {
	case metric.SuccessCondition == "" && metric.FailureCondition == "":
		return "Successful", nil
	case metric.SuccessCondition != "" && metric.FailureCondition == "":
		failure = !success
	case metric.SuccessCondition == "" && metric.FailureCondition != "":
		success = !failure
	}
	if failure {
		return "Failed", nil
	}
	if !success {
		return "Inconclusive", nil
	}
	return "Successful", nil
}

func webMeasurement(metric WebMetric, resp HTTPResponse) Measurement {
	if resp.Status < 200 || resp.Status >= 300 {
		return Measurement{Phase: "Error", Message: fmt.Sprintf("received non 2xx response code: %d", resp.Status)}
	}
	var data any
	if err := json.Unmarshal([]byte(resp.Body), &data); err != nil {
		return Measurement{Phase: "Successful", Value: resp.Body, Message: "non-JSON body: conditions not evaluated (Rollouts <= v1.10)"}
	}
	path := metric.Provider.Web.JSONPath
	if path == "" {
		path = "{$}"
	}
	parser := jsonpath.New("metrics")
	if err := parser.Parse(path); err != nil {
		return Measurement{Phase: "Error", Message: err.Error()}
	}
	results, err := parser.FindResults(data)
	if err != nil {
		return Measurement{Phase: "Error", Message: "Could not find JSONPath in body: " + err.Error()}
	}
	value, valueJSON, err := firstValue(results)
	if err != nil {
		return Measurement{Phase: "Error", Message: err.Error()}
	}
	phase, err := evaluatePhase(metric, value)
	m := Measurement{Phase: phase, Value: valueJSON}
	if err != nil {
		m.Message = err.Error()
	}
	return m
}

func firstValue(results [][]reflect.Value) (any, string, error) {
	for _, rs := range results {
		for _, r := range rs {
			v := r.Interface()
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			if err := enc.Encode(v); err != nil {
				return nil, "", err
			}
			return v, string(bytes.TrimRight(buf.Bytes(), "\n")), nil
		}
	}
	return nil, "", errors.New("result of web metric produced no value")
}
