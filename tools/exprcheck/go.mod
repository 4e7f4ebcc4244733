module github.com/celesrenata/stonks-gate/tools/exprcheck

go 1.24.0

require (
	github.com/Masterminds/semver/v3 v3.5.0
	github.com/antonmedv/expr v1.15.5
	github.com/expr-lang/expr v1.17.8
	k8s.io/client-go v0.34.3
)
