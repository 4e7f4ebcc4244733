#!/usr/bin/env bash
# Installs the pinned tools the test suites use. Idempotent; safe to run on a developer machine.
# Go tools go to .tools/bin (gitignored); Debian packages through apt-get when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=v3.22.0
ACTIONLINT_VERSION=v1.7.12
# promtool (checks and unit-tests the chart's alert rules): the Go module of Prometheus v3.16.0
PROMETHEUS_MODULE_VERSION=v0.316.0
# the oldest Node the CI pipeline scripts promise (ci/README.md); test/ci runs them under it and,
# under CI=true, fails when there is no Node 20 (a fresh machine's own Node may be any version)
NODE20_VERSION=20.20.2

export GOBIN="$PWD/.tools/bin"
export GOFLAGS=-mod=mod
mkdir -p "$GOBIN"

log() { printf '[tools] %s\n' "$*"; }

if [ "${SKIP_APT:-}" != 1 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  command -v yamllint >/dev/null || missing+=(yamllint)
  command -v jq >/dev/null || missing+=(jq)
  command -v curl >/dev/null || missing+=(curl)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

NODE20_DIR="$PWD/.tools/node20"
if [ "$("$NODE20_DIR/node_modules/.bin/node" -p process.versions.node 2>/dev/null)" != "${NODE20_VERSION}" ]; then
  log "npm install node@${NODE20_VERSION} into .tools/node20"
  npm install --prefix "$NODE20_DIR" --no-save --no-package-lock --no-audit --no-fund "node@${NODE20_VERSION}" >/dev/null
fi

if command -v go >/dev/null 2>&1; then
  # built_from BINARY MODULE VERSION — the binary was built from that module version (what the
  # tool prints is no guide: a helm built by go install reports v3.22, not v3.22.0)
  built_from() { go version -m "$1" 2>/dev/null | awk -v m="$2" -v v="$3" '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'; }
  if ! built_from "$GOBIN/helm" helm.sh/helm/v3 "$HELM_VERSION"; then
    log "go install helm ${HELM_VERSION}"
    go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  fi
  if ! built_from "$GOBIN/actionlint" github.com/rhysd/actionlint "$ACTIONLINT_VERSION"; then
    log "go install actionlint ${ACTIONLINT_VERSION}"
    go install "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}"
  fi
  if ! built_from "$GOBIN/promtool" github.com/prometheus/prometheus "$PROMETHEUS_MODULE_VERSION"; then
    # remove_all_sd: without the service-discovery plugins (cloud SDKs), which rule checks never
    # use and which take most of the build
    log "go install promtool ${PROMETHEUS_MODULE_VERSION}"
    go install -tags remove_all_sd "github.com/prometheus/prometheus/cmd/promtool@${PROMETHEUS_MODULE_VERSION}"
  fi
else
  log "go not found: helm, actionlint and promtool not installed"
fi
