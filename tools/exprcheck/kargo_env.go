package main

// Kargo (v1.11.2) expression environment, declared for compilation and implemented
// (from sample data) for evaluation.
//
// Sources read (akuity/kargo): pkg/expressions/function/functions.go (function names and the
// `new(func(...) ...)` type declarations of DataOperations, FreightOperations,
// StatusOperations, UtilityOperations), pkg/expressions/json_templates.go (quote, unsafeQuote,
// asYAML, asJSON; template delimiters and result coercion) and pkg/promotion/evaluator.go
// (BuildExprEnv: ctx, vars, outputs, task, stepMetas). The code below is written for this
// checker; it declares the same names with the same signatures.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/Masterminds/semver/v3"
	"github.com/expr-lang/expr"
)

// Mirrors of the Kargo API types returned by the freight functions. Field names are the
// exported Go field names Kargo's expressions see (e.g. imageFrom(url).Tag).
type FreightOrigin struct {
	Kind string
	Name string
}

type Image struct {
	RepoURL     string
	Tag         string
	Digest      string
	Annotations map[string]string
}

type GitCommit struct {
	RepoURL   string
	ID        string
	Branch    string
	Tag       string
	Message   string
	Author    string
	Committer string
}

type Chart struct {
	RepoURL string
	Name    string
	Version string
}

type ArtifactReference struct {
	ArtifactType     string
	SubscriptionName string
	Version          string
	Metadata         map[string]any
}

// Typed mirror of the `ctx` map built by BuildExprEnv, used only by the strict compile pass so
// that a misspelt member (ctx.targetFreigth) is a compile error. Fields marked v1.11 come from
// the v1.11 release notes summarised in kargo-notes.md §1.4.
type ctxPromotionMeta struct {
	Actor    string `expr:"actor"`
	Rollback bool   `expr:"rollback"` // v1.11
}

type ctxStepMeta struct {
	Alias string `expr:"alias"`
}

type ctxMeta struct {
	Promotion ctxPromotionMeta `expr:"promotion"`
	Step      ctxStepMeta      `expr:"step"`
}

type ctxOrigin struct {
	Name string `expr:"name"`
}

type ctxTargetFreight struct {
	Name   string    `expr:"name"`
	Alias  string    `expr:"alias"`
	Origin ctxOrigin `expr:"origin"`
}

type kargoCtx struct {
	UIBaseURL     string           `expr:"uiBaseUrl"` // v1.11
	Project       string           `expr:"project"`
	Stage         string           `expr:"stage"`
	Promotion     string           `expr:"promotion"`
	TargetFreight ctxTargetFreight `expr:"targetFreight"`
	Meta          ctxMeta          `expr:"meta"`
}

type kargoTask struct {
	Outputs map[string]any `expr:"outputs"`
}

// kargoStrictEnv is the declared environment of the strict pass: every top-level name a
// Kargo template may use. Anything else is an unknown name.
type kargoStrictEnv struct {
	Ctx       kargoCtx       `expr:"ctx"`
	Vars      map[string]any `expr:"vars"`
	Outputs   map[string]any `expr:"outputs"`
	Task      kargoTask      `expr:"task"`
	StepMetas map[string]any `expr:"stepMetas"`
}

// KargoData is the sample data the evaluating implementations answer from.
type KargoData struct {
	Secrets          map[string]map[string]string `json:"secrets"`
	SharedSecrets    map[string]map[string]string `json:"sharedSecrets"`
	ConfigMaps       map[string]map[string]string `json:"configMaps"`
	SharedConfigMaps map[string]map[string]string `json:"sharedConfigMaps"`
	Images           []Image                      `json:"images"`
	Commits          []GitCommit                  `json:"commits"`
	Charts           []Chart                      `json:"charts"`
	// StepStatuses are the statuses of the steps before the current one, by alias, in order.
	StepStatuses []StepStatus `json:"stepStatuses"`
}

// StepStatus is one earlier step's alias and Kargo status (Succeeded, Failed, Errored, Skipped...).
type StepStatus struct {
	Alias  string `json:"alias"`
	Status string `json:"status"`
}

type exprFn = func(params ...any) (any, error)

func notEvaluable(name string) exprFn {
	return func(...any) (any, error) {
		return nil, fmt.Errorf("%s() is declared for compilation only; exprcheck has no sample data for it", name)
	}
}

func stringArg(name string, a []any, i int) (string, error) {
	if len(a) <= i {
		return "", fmt.Errorf("%s: missing argument %d", name, i+1)
	}
	s, ok := a[i].(string)
	if !ok {
		return "", fmt.Errorf("%s: argument %d must be string, got %T", name, i+1, a[i])
	}
	return s, nil
}

func lookupMap(src map[string]map[string]string, name string) map[string]string {
	if m, ok := src[name]; ok {
		out := make(map[string]string, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	// Kargo answers an empty map for a missing Secret or ConfigMap.
	return map[string]string{}
}

func hasFailure(data *KargoData) bool {
	for _, s := range data.StepStatuses {
		if s.Status == "Failed" || s.Status == "Errored" {
			return true
		}
	}
	return false
}

// kargoFunctions returns every function Kargo v1.11.2 registers for promotion-step
// templates (config, if, vars) and verification arguments. With data == nil the
// implementations refuse to run: the options are then for compilation only.
func kargoFunctions(data *KargoData) []expr.Option {
	d := data
	if d == nil {
		d = &KargoData{}
	}
	evalOr := func(name string, fn exprFn) exprFn {
		if data == nil {
			return notEvaluable(name)
		}
		return fn
	}
	mapGetter := func(name string, src map[string]map[string]string) exprFn {
		return evalOr(name, func(a ...any) (any, error) {
			if len(a) != 1 {
				return nil, fmt.Errorf("expected 1 argument, got %d", len(a))
			}
			s, err := stringArg(name, a, 0)
			if err != nil {
				return nil, err
			}
			return lookupMap(src, s), nil
		})
	}
	return []expr.Option{
		// DataOperations
		expr.Function("configMap", mapGetter("configMap", d.ConfigMaps), new(func(name string) map[string]string)),
		expr.Function("sharedConfigMap", mapGetter("sharedConfigMap", d.SharedConfigMaps), new(func(name string) map[string]string)),
		expr.Function("secret", mapGetter("secret", d.Secrets), new(func(name string) map[string]string)),
		expr.Function("sharedSecret", mapGetter("sharedSecret", d.SharedSecrets), new(func(name string) map[string]string)),
		expr.Function("freightMetadata", notEvaluable("freightMetadata"), new(func(freightRefName string) map[string]any)),
		expr.Function("stageMetadata", notEvaluable("stageMetadata"), new(func(stageName string) map[string]any)),
		// FreightOperations
		expr.Function("warehouse", evalOr("warehouse", warehouseFn), new(func(name string) FreightOrigin)),
		expr.Function("commitFrom", evalOr("commitFrom", func(a ...any) (any, error) { return findCommit(d, a) }),
			new(func(repoURL string, origin FreightOrigin) GitCommit),
			new(func(repoURL string) GitCommit),
		),
		expr.Function("imageFrom", evalOr("imageFrom", func(a ...any) (any, error) { return findImage(d, a) }),
			new(func(repoURL string, origin FreightOrigin) Image),
			new(func(repoURL string) Image),
		),
		expr.Function("chartFrom", evalOr("chartFrom", func(a ...any) (any, error) { return findChart(d, a) }),
			new(func(repoURL string, chartName string, origin FreightOrigin) Chart),
			new(func(repoURL string, chartName string) Chart),
			new(func(repoURL string, origin FreightOrigin) Chart),
			new(func(repoURL string) Chart),
		),
		expr.Function("artifactFrom", notEvaluable("artifactFrom"),
			new(func(name string, origin FreightOrigin) ArtifactReference),
			new(func(name string) ArtifactReference),
		),
		// StatusOperations
		expr.Function("always", evalOr("always", func(...any) (any, error) { return true, nil }), new(func() bool)),
		expr.Function("failure", evalOr("failure", func(...any) (any, error) { return hasFailure(d), nil }), new(func() bool)),
		expr.Function("success", evalOr("success", func(...any) (any, error) { return !hasFailure(d), nil }), new(func() bool)),
		expr.Function("status", evalOr("status", func(a ...any) (any, error) {
			alias, err := stringArg("status", a, 0)
			if err != nil {
				return "", err
			}
			for _, s := range d.StepStatuses {
				if s.Alias == alias {
					return s.Status, nil
				}
			}
			return "", nil
		}), new(func(alias string) string)),
		// UtilityOperations
		expr.Function("semverDiff", evalOr("semverDiff", semverDiff), new(func(ver1Str, ver2Str string) string)),
		expr.Function("semverParse", evalOr("semverParse", semverParse), new(func(verStr string) *semver.Version)),
		// Template functions added by EvaluateTemplate.
		expr.Function("quote", quoteFn, new(func(any) string)),
		expr.Function("unsafeQuote", unsafeQuoteFn, new(func(any) string)),
		expr.Function("asYAML", notEvaluable("asYAML"), new(func(any) string)),
		expr.Function("asJSON", asJSONFn, new(func(any) string)),
	}
}

func warehouseFn(a ...any) (any, error) {
	if len(a) != 1 {
		return nil, fmt.Errorf("expected 1 argument, got %d", len(a))
	}
	name, err := stringArg("warehouse", a, 0)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errors.New("name must not be empty")
	}
	return FreightOrigin{Kind: "Warehouse", Name: name}, nil
}

func findImage(d *KargoData, a []any) (any, error) {
	if len(a) == 0 || len(a) > 2 {
		return nil, fmt.Errorf("expected 1-2 arguments, got %d", len(a))
	}
	repoURL, err := stringArg("imageFrom", a, 0)
	if err != nil {
		return nil, err
	}
	for i := range d.Images {
		if d.Images[i].RepoURL == repoURL {
			img := d.Images[i]
			return &img, nil
		}
	}
	// Kargo returns nil when the Freight holds no such image.
	return nil, nil
}

func findCommit(d *KargoData, a []any) (any, error) {
	if len(a) == 0 || len(a) > 2 {
		return nil, fmt.Errorf("expected 1-2 arguments, got %d", len(a))
	}
	repoURL, err := stringArg("commitFrom", a, 0)
	if err != nil {
		return nil, err
	}
	for i := range d.Commits {
		if d.Commits[i].RepoURL == repoURL {
			c := d.Commits[i]
			return &c, nil
		}
	}
	return nil, nil
}

func findChart(d *KargoData, a []any) (any, error) {
	if len(a) == 0 || len(a) > 3 {
		return nil, fmt.Errorf("expected 1-3 arguments, got %d", len(a))
	}
	repoURL, err := stringArg("chartFrom", a, 0)
	if err != nil {
		return nil, err
	}
	name := ""
	if len(a) >= 2 {
		if s, ok := a[1].(string); ok {
			name = s
		}
	}
	for i := range d.Charts {
		if d.Charts[i].RepoURL == repoURL && (name == "" || d.Charts[i].Name == name) {
			c := d.Charts[i]
			return &c, nil
		}
	}
	return nil, nil
}

func semverDiff(a ...any) (any, error) {
	if len(a) != 2 {
		return nil, fmt.Errorf("expected 2 arguments, got %d", len(a))
	}
	s1, err := stringArg("semverDiff", a, 0)
	if err != nil {
		return nil, err
	}
	s2, err := stringArg("semverDiff", a, 1)
	if err != nil {
		return nil, err
	}
	v1, err1 := semver.NewVersion(s1)
	v2, err2 := semver.NewVersion(s2)
	switch {
	case err1 != nil || err2 != nil:
		return "Incomparable", nil
	case v1.Major() != v2.Major():
		return "Major", nil
	case v1.Minor() != v2.Minor():
		return "Minor", nil
	case v1.Patch() != v2.Patch():
		return "Patch", nil
	case v1.Metadata() != v2.Metadata():
		return "Metadata", nil
	}
	return "None", nil
}

func semverParse(a ...any) (any, error) {
	s, err := stringArg("semverParse", a, 0)
	if err != nil {
		return nil, err
	}
	v, err := semver.NewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("invalid semantic version: %w", err)
	}
	return v, nil
}

// quoteFn: a string becomes a Go-quoted string ("abc" -> "\"abc\""), anything else goes
// through unsafeQuote. The surrounding quotes make the template engine keep the value a string.
func quoteFn(a ...any) (any, error) {
	if s, ok := a[0].(string); ok {
		return strconv.Quote(s), nil
	}
	return unsafeQuoteFn(a...)
}

// unsafeQuoteFn: JSON-encodes the value and wraps it in double quotes.
func unsafeQuoteFn(a ...any) (any, error) {
	b, err := json.Marshal(a[0])
	if err != nil {
		return nil, fmt.Errorf("error applying quote() function: %w", err)
	}
	return `"` + string(b) + `"`, nil
}

func asJSONFn(a ...any) (any, error) {
	b, err := json.MarshalIndent(a[0], "", "  ")
	if err != nil {
		return nil, fmt.Errorf("error applying asJSON() function: %w", err)
	}
	return `"` + string(b) + "\n\"", nil
}
