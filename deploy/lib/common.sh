# shellcheck shell=bash
# shellcheck disable=SC2034 # names are used by the scripts that source this file
# Shared by runmefirst.sh and runmelast.sh: settings, logging, steps, --dry-run, and the guard
# that refuses any change that could reach the application's namespaces.
#
# Every command that changes the cluster goes through pl_mut (argv) or pl_apply (a manifest on
# stdin). Both check the guard first, then print the action; under --dry-run they stop there.
# Read-only queries (kc_read / helm_read) always run, so a dry run plans from the real state.

# --- Fixed names (a contract with kargo/, the CI workflows and the gate; not settings) ---------
readonly NS_ARC_SYSTEMS=arc-systems
readonly NS_ARC_RUNNERS=arc-runners
readonly NS_ARGOCD=argocd
readonly NS_ROLLOUTS=argo-rollouts
readonly NS_KARGO=kargo
readonly NS_GATE=stonks-gate
readonly NS_PROJECT=stonks-pipeline
# The application. These scripts never change anything in these namespaces.
readonly PROTECTED_NAMESPACES=(stonks-oracle stonks-oracle-beta stonks-oracle-paper)
# The only namespaces a change may name.
readonly PIPELINE_NAMESPACES=("$NS_ARC_SYSTEMS" "$NS_ARC_RUNNERS" "$NS_ARGOCD" "$NS_ROLLOUTS" "$NS_KARGO" "$NS_GATE" "$NS_PROJECT")

readonly REL_ARC_CONTROLLER=arc
readonly REL_GATE=gate-service
readonly REL_ARGOCD=argocd
readonly REL_ROLLOUTS=argo-rollouts
readonly REL_KARGO=kargo
# the Deployment that runs Kargo's promotions (its chart names it so)
readonly KARGO_CONTROLLER=kargo-controller
readonly PART_OF_LABEL=app.kubernetes.io/part-of=stonks-pipeline

DRY_RUN=0
CURRENT_STEP=""
SCRIPT_NAME=""

# --- Logging -------------------------------------------------------------------------------
pl_ts() { date -u +%H:%M:%S; }
log() { printf '%s [%s] %s\n' "$(pl_ts)" "${CURRENT_STEP:-main}" "$*" >&2; }
warn() { printf '%s [%s] WARNING: %s\n' "$(pl_ts)" "${CURRENT_STEP:-main}" "$*" >&2; }
# die MESSAGE [EXIT] — prints the message and exits (default 1; 2 for a setup problem).
die() {
  printf '%s [%s] ERROR: %s\n' "$(pl_ts)" "${CURRENT_STEP:-main}" "$1" >&2
  exit "${2:-1}"
}

# pl_quote ARGS... — the arguments as one shell-quoted line, for logs.
pl_quote() {
  local out="" a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+="$a "; else out+="$(printf '%q' "$a") "; fi
  done
  printf '%s' "${out% }"
}

# --- Options -------------------------------------------------------------------------------
# pl_parse_args ARGS... — the options both scripts take: --dry-run, --from STEP (or --from=STEP),
# --list-steps (prints STEPS and exits), -h/--help (prints `usage` and exits). Sets DRY_RUN and
# FROM. Any other argument goes to pl_extra_option, when the script defines one (it returns non-zero
# for an argument it does not know either); an unknown argument prints the usage and exits 2.
pl_parse_args() {
  FROM=""
  while (($#)); do
    case $1 in
      --dry-run) DRY_RUN=1 ;;
      --from)
        FROM=${2:-}
        [[ -n $FROM ]] || die "--from needs a step name" 2
        shift
        ;;
      --from=*) FROM=${1#--from=} ;;
      --list-steps)
        # shellcheck disable=SC2153 # STEPS: the script's, set before it calls this
        printf '%s\n' "${STEPS[@]}"
        exit 0
        ;;
      -h | --help)
        usage
        exit 0
        ;;
      *)
        if ! declare -F pl_extra_option >/dev/null || ! pl_extra_option "$1"; then
          usage >&2
          die "unknown argument: $1" 2
        fi
        ;;
    esac
    shift
  done
}

# --- Settings ------------------------------------------------------------------------------
# pl_load_env ROOT — reads the operator's overrides (PIPELINE_ENV_FILE, default
# deploy/pipeline.local.env, if present), then deploy/pipeline.env for the defaults.
pl_load_env() {
  local root=$1 local_file="${PIPELINE_ENV_FILE:-$1/deploy/pipeline.local.env}"
  if [[ -n ${PIPELINE_ENV_FILE:-} && ! -f $PIPELINE_ENV_FILE ]]; then
    die "PIPELINE_ENV_FILE=$PIPELINE_ENV_FILE does not exist"
  fi
  if [[ -f $local_file ]]; then
    # shellcheck source=/dev/null
    source "$local_file"
    log "settings: $local_file over deploy/pipeline.env"
  fi
  # shellcheck source=/dev/null
  source "$root/deploy/pipeline.env"
}

# --- Steps ---------------------------------------------------------------------------------
# pl_on_error LINE EXIT — the ERR trap: which step failed and how to resume.
pl_on_error() {
  local line=$1 code=$2
  trap - ERR
  # in a subshell (a pipeline's stage, a command substitution): the line that failed, in its own
  # file, and no step report. The parent reports the step once, as the subshell's status reaches
  # it; where bash does not look at that status (a process substitution, a substitution used as
  # an argument) this line is the one sign of the failure
  if ((BASH_SUBSHELL > 0)); then
    printf '%s [%s] %s line %s exited %s\n' "$(pl_ts)" "${CURRENT_STEP:-main}" "${BASH_SOURCE[1]##*/}" "$line" "$code" >&2
    exit "$code"
  fi
  # the file of the failing line: a helper of deploy/lib fails on a line of its own file
  printf '\n%s [%s] FAILED: step "%s" exited %s (%s line %s).\n' "$(pl_ts)" "${CURRENT_STEP:-main}" \
    "${CURRENT_STEP:-main}" "$code" "${BASH_SOURCE[1]##*/}" "$line" >&2
  if [[ -n $CURRENT_STEP && $CURRENT_STEP != preflight ]]; then
    printf 'Fix the cause above, then resume from this step:  ./%s --from %s\n' "$SCRIPT_NAME" "$CURRENT_STEP" >&2
  else
    printf 'Fix the cause above and run ./%s again.\n' "$SCRIPT_NAME" >&2
  fi
  exit "$code"
}

# pl_run_steps FROM STEP... — runs step_<name> for each step, starting at FROM (preflight always
# runs). Each step is announced with its number.
pl_run_steps() {
  local from=$1
  shift
  local steps=("$@") n=$# i=0 started=0 s
  if [[ -n $from ]]; then
    local known=0
    for s in "${steps[@]}"; do [[ $s == "$from" ]] && known=1; done
    ((known)) || die "unknown step '$from'; steps: ${steps[*]}" 2
  fi
  for s in "${steps[@]}"; do
    i=$((i + 1))
    if [[ -z $from || $s == "$from" ]]; then started=1; fi
    if ((!started)) && [[ $s != preflight ]]; then
      CURRENT_STEP=$s
      log "[$i/$n] skipped (resuming from $from)"
      continue
    fi
    CURRENT_STEP=$s
    log "[$i/$n] ---- $s ----"
    "step_${s//-/_}"
  done
  CURRENT_STEP="done"
}

# --- The guard -----------------------------------------------------------------------------
pl_is_protected() {
  local ns
  for ns in "${PROTECTED_NAMESPACES[@]}"; do [[ $1 == "$ns" ]] && return 0; done
  return 1
}
pl_is_pipeline_ns() {
  local ns
  for ns in "${PIPELINE_NAMESPACES[@]}"; do [[ $1 == "$ns" ]] && return 0; done
  return 1
}
# pl_names_object ARG VERB KIND — true when ARG names an Argo CD Application (KIND/NAME, or a
# NAME after the KIND): the one kind these scripts change whose objects may carry a protected
# namespace's name. Every other word, whatever its kind, is checked against the protected names.
pl_names_object() {
  local a=$1 verb=$2 kind=$3
  [[ $a == -* || $a == *=* || $a == *://* ]] && return 1
  if [[ $a == */* ]]; then
    kind=${a%%/*}
  elif [[ -z $kind || $a == "$kind" || $a == "$verb" ]]; then
    return 1
  fi
  case $kind in
    application.argoproj.io | applications.argoproj.io) return 0 ;;
  esac
  return 1
}
# pl_value_names_protected VALUE — true when a JSON/YAML value (a patch) holds a protected
# namespace's name as a whole string
pl_value_names_protected() {
  local ns
  for ns in "${PROTECTED_NAMESPACES[@]}"; do
    [[ $1 == *\"$ns\"* || $1 == *"'$ns'"* || $1 =~ (^|[[:space:]:])$ns([[:space:],}]|$) ]] && return 0
  done
  return 1
}
pl_refuse() {
  printf '%s [%s] REFUSED: %s\n' "$(pl_ts)" "${CURRENT_STEP:-main}" "$*" >&2
  printf 'Nothing was run. These scripts never change the application namespaces (%s).\n' "${PROTECTED_NAMESPACES[*]}" >&2
  exit 3
}

# pl_guard TOOL ARGS... — refuses (exit 3) a change that names a protected namespace, works
# across all namespaces, deletes a namespace, or targets a namespace outside the pipeline's.
pl_guard() {
  local tool=$1
  shift
  local args=("$@") i a ns="" verb="" kind="" words=() w k
  for ((i = 0; i < ${#args[@]}; i++)); do
    a=${args[i]}
    case $a in
      -A | --all-namespaces | --all-namespaces=true) pl_refuse "a change across all namespaces: $tool $(pl_quote "${args[@]}")" ;;
      -n | --namespace)
        ns=${args[i + 1]:-}
        i=$((i + 1))
        ;;
      --namespace=*) ns=${a#--namespace=} ;;
      -n?*) ns=${a#-n} ;;
      -p | --patch)
        if pl_value_names_protected "${args[i + 1]:-}"; then
          pl_refuse "a patch names a protected namespace: $tool $(pl_quote "${args[@]}")"
        fi
        i=$((i + 1))
        ;;
      --context | --kube-context | -f | --type | -o | --version | --timeout | --description | --for | --repo) i=$((i + 1)) ;;
      --all | --all=true) pl_refuse "these scripts never act on --all objects of a kind: $tool $(pl_quote "${args[@]}")" ;;
      -*) ;;
      *)
        words+=("$a")
        if [[ -z $verb ]]; then verb=$a; elif [[ -z $kind ]]; then kind=$a; fi
        ;;
    esac
    # an object's own name may be a protected namespace's (the Argo CD Application
    # stonks-oracle-beta lives in argocd): only a namespace's name, a flag or a value names one
    if pl_names_object "$a" "$verb" "$kind"; then continue; fi
    local bare=${a##*/}
    bare=${bare#*=}
    if pl_is_protected "$a" || pl_is_protected "$bare"; then
      pl_refuse "the change names a protected namespace: $tool $(pl_quote "${args[@]}")"
    fi
  done
  if [[ -n $ns ]] && ! pl_is_pipeline_ns "$ns"; then
    pl_refuse "namespace '$ns' is not one of the pipeline's (${PIPELINE_NAMESPACES[*]}): $tool $(pl_quote "${args[@]}")"
  fi
  # a deletion, wherever its verb and kinds stand (a flag whose value is a separate word can
  # shift them): every word is read as a kind too, in any case, comma list or group form
  if [[ $tool == kubectl && " ${words[*]} " == *" delete "* ]]; then
    for w in "${words[@]}"; do
      w=${w%%/*}
      IFS=, read -ra kinds <<<"${w,,}"
      for k in "${kinds[@]}"; do
        case ${k%%.*} in
          ns | namespace | namespaces) pl_refuse "these scripts never delete a namespace: kubectl $(pl_quote "${args[@]}")" ;;
          pv | persistentvolume | persistentvolumes | pvc | persistentvolumeclaim | persistentvolumeclaims | crd | customresourcedefinition | customresourcedefinitions)
            pl_refuse "these scripts never delete volumes, claims or CRDs: kubectl $(pl_quote "${args[@]}")" ;;
          app | apps | application | applications)
            # an Application deleted with its cascade deletes what it deployed (the live app)
            if [[ $k == app || $k == application || $k == applications || $k == *.argoproj.io ]] && [[ " ${args[*]} " != *" --cascade=orphan "* ]]; then
              pl_refuse "an Argo CD Application is deleted only with --cascade=orphan: kubectl $(pl_quote "${args[@]}")"
            fi
            ;;
        esac
      done
    done
    [[ -n $ns ]] || pl_refuse "a deletion without an explicit pipeline namespace: kubectl $(pl_quote "${args[@]}")"
  fi
  if [[ $tool == helm && ($verb == uninstall || $verb == delete || $verb == upgrade || $verb == install || $verb == rollback) && -z $ns ]]; then
    pl_refuse "a helm change without an explicit namespace: helm $(pl_quote "${args[@]}")"
  fi
  return 0
}

# pl_guard_manifest TEXT — refuses a manifest with a namespace outside the pipeline's, or one
# that names a protected namespace.
pl_guard_manifest() {
  local line value
  while IFS= read -r line; do
    if [[ $line =~ ^[[:space:]]*(namespace|name):[[:space:]]*\"?([A-Za-z0-9.-]+)\"?[[:space:]]*$ ]]; then
      value=${BASH_REMATCH[2]}
      if pl_is_protected "$value"; then pl_refuse "a manifest names the protected namespace '$value'"; fi
      if [[ ${BASH_REMATCH[1]} == namespace ]] && ! pl_is_pipeline_ns "$value"; then
        pl_refuse "a manifest targets namespace '$value', which is not one of the pipeline's"
      fi
    fi
  done <<<"$1"
}

# --- Running things ------------------------------------------------------------------------
# pl_mut TOOL ARGS... — a change: guard, print, and run it unless --dry-run.
pl_mut() {
  pl_guard "$@"
  if ((DRY_RUN)); then
    printf '[dry-run] %s\n' "$(pl_quote "$@")"
    return 0
  fi
  log "+ $(pl_quote "$@")"
  "$@"
}

# pl_apply DESCRIPTION — applies the manifest on stdin with kubectl (guarded, printed).
pl_apply() {
  local what=$1 manifest
  manifest=$(cat)
  pl_guard_manifest "$manifest"
  if ((DRY_RUN)); then
    printf '[dry-run] kubectl apply -f - (%s):\n    %s\n' "$what" "${manifest//$'\n'/$'\n    '}"
    return 0
  fi
  log "+ kubectl apply -f - ($what)"
  printf '%s\n' "$manifest" | kubectl --context "$KUBE_CONTEXT" apply -f -
}

# kc_read ARGS... — a read-only kubectl query against the chosen context.
kc_read() { kubectl --context "$KUBE_CONTEXT" "$@"; }
# kc_mut ARGS... — a kubectl change against the chosen context.
kc_mut() { pl_mut kubectl --context "$KUBE_CONTEXT" "$@"; }
# helm_read ARGS... — a read-only helm query against the chosen context.
helm_read() { helm --kube-context "$KUBE_CONTEXT" "$@"; }
# helm_mut ARGS... — a helm change against the chosen context.
helm_mut() { pl_mut helm --kube-context "$KUBE_CONTEXT" "$@"; }

# kc_exists ARGS... — true when `kubectl get ARGS -o name` finds the object. Any failure counts
# as absent: for the checks whose answer only decides whether to create or report something.
kc_exists() { kc_read get "$@" -o name >/dev/null 2>&1; }

# kc_found ARGS... — true when `kubectl get ARGS` finds the object, false when it is NotFound. Any
# other failure (an API server that does not answer, a timeout, a refused read) stops the run: a
# read that fails is not an answer, and taken for "absent" it would skip what the step is for
# (stopping a controller, saving a kind in the snapshot, removing the Applications first).
kc_found() {
  local found
  found=$(kc_read get "$@" --ignore-not-found -o name) ||
    die "cannot read $(pl_quote "$@") (kubectl's error above); nothing more was changed. Run again when the API server answers."
  [[ -n $found ]]
}

# --- Preflight helpers ---------------------------------------------------------------------
# pl_version_ge HAVE WANT — true when version HAVE (v1.2.3) >= WANT (1.2.0).
pl_version_ge() {
  local have=${1#v} want=${2#v}
  have=${have%%[-+]*}
  [[ $(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1) == "$want" ]]
}

# pl_require_tools TOOL... — every tool on PATH, or a message that says how to get it.
pl_require_tools() {
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  ((${#missing[@]} == 0)) || die "missing tools: ${missing[*]}. Install them (kubectl >= 1.27, helm >= 3.14) and run again." 2
}

# pl_check_versions — kubectl and helm new enough.
pl_check_versions() {
  local kv hv
  kv=$(kubectl version --client -o yaml 2>/dev/null | sed -n 's/^ *gitVersion: *//p' | head -n1)
  hv=$(helm version --template '{{.Version}}' 2>/dev/null)
  [[ -n $kv ]] || die "cannot read kubectl's version (kubectl version --client)" 2
  [[ -n $hv ]] || die "cannot read helm's version (helm version)" 2
  pl_version_ge "$kv" 1.27.0 || die "kubectl $kv is too old: 1.27 or newer is needed" 2
  pl_version_ge "$hv" 3.14.0 || die "helm $hv is too old: 3.14 or newer is needed (OCI charts, --kube-context)" 2
  log "kubectl $kv, helm $hv"
}

# pl_check_context — fixes KUBE_CONTEXT to the current context (or checks the chosen one exists)
# and that the cluster answers.
pl_check_context() {
  local current
  current=$(kubectl config current-context 2>/dev/null || true)
  if [[ -z $KUBE_CONTEXT ]]; then
    [[ -n $current ]] || die "no current kubectl context: set KUBE_CONTEXT in deploy/pipeline.local.env or run 'kubectl config use-context NAME'" 2
    KUBE_CONTEXT=$current
  elif ! kubectl config get-contexts "$KUBE_CONTEXT" -o name >/dev/null 2>&1; then
    die "kubectl context '$KUBE_CONTEXT' (KUBE_CONTEXT) does not exist: see 'kubectl config get-contexts'" 2
  fi
  log "kube context: $KUBE_CONTEXT"
  kc_read get --raw /readyz >/dev/null 2>&1 ||
    die "the cluster of context '$KUBE_CONTEXT' does not answer (kubectl get --raw /readyz). Check VPN/kubeconfig." 2
  # Read-only: the application namespace should be there on the right cluster; it is never changed.
  if kc_exists namespace stonks-oracle; then
    log "application namespace stonks-oracle found (read-only check; these scripts never change it)"
  else
    warn "namespace stonks-oracle not found: is '$KUBE_CONTEXT' the Stonks Oracle cluster?"
  fi
}
