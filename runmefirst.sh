#!/usr/bin/env bash
# Stands the Stonks Oracle delivery pipeline up on the cluster, idempotently: namespaces, NFS
# volumes (Retain, pre-bound, re-bound after a teardown), the promotion gate, ARC controller and
# runner scale sets, Argo CD, Argo Rollouts, the Argo CD Applications in kargo/, Kargo, then the
# rest of kargo/. The gate comes up before everything that calls it (the reporter runners' CI
# jobs, Argo Rollouts' verifications, Kargo's gate step), which may resume work queued or under
# way the moment they start. Kargo's controller starts last: after a teardown it resumes the
# promotions it had under way, and their gate step and argocd-update step find the gate and the
# Applications.
# A second run changes nothing. The application namespace stonks-oracle is never changed.
#
# Usage: ./runmefirst.sh [--dry-run] [--from STEP] [--list-steps]
# Settings: deploy/pipeline.env (defaults) and deploy/pipeline.local.env (yours).
# Documentation: docs/deployment.md
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib/common.sh
source "$ROOT/deploy/lib/common.sh"
# shellcheck source=deploy/lib/manifests.sh
source "$ROOT/deploy/lib/manifests.sh"
# shellcheck source=deploy/lib/values.sh
source "$ROOT/deploy/lib/values.sh"
SCRIPT_NAME=runmefirst.sh

STEPS=(preflight namespaces nfs-dirs volumes accounts gate arc-controller arc-runners argo-cd argo-rollouts applications kargo kargo-resources summary)

usage() {
  cat <<EOF
Usage: ./runmefirst.sh [--dry-run] [--from STEP] [--list-steps]

  --dry-run     print every change it would make, change nothing (queries still run)
  --from STEP   resume at STEP after a failure (preflight always runs)
  --list-steps  print the steps and exit

Steps: ${STEPS[*]}
Settings: deploy/pipeline.env, overridden by deploy/pipeline.local.env or \$PIPELINE_ENV_FILE.
EOF
}

pl_parse_args "$@"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/runmefirst.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'pl_on_error $LINENO $?' ERR

# --- helpers -------------------------------------------------------------------------------

# helm_release NAME NAMESPACE CHART VERSION VALUES_FUNC [REPO_URL] [CHART_DIR] — installs or
# upgrades a release, unless the deployed revision already carries the same fingerprint (chart,
# version, values, and for a local chart its files): then it changes nothing.
helm_release() {
  local name=$1 ns=$2 chart=$3 version=$4 render=$5 repo=${6:-} chart_dir=${7:-} values fp history
  local extra=""
  values="$WORK/values-$name.yaml"
  "$render" >"$values"
  if [[ $name == "$REL_GATE" && -n $GATE_VALUES_FILE ]]; then
    [[ -f $GATE_VALUES_FILE ]] || die "GATE_VALUES_FILE=$GATE_VALUES_FILE does not exist"
    extra=$GATE_VALUES_FILE
  fi
  fp=$({
    printf '%s\n%s\n%s\n%s\n' "$name" "$repo" "$chart" "$version"
    cat "$values"
    [[ -z $extra ]] || cat "$extra"
    if [[ -n $chart_dir ]]; then (cd "$chart_dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); fi
  } | sha256sum | cut -c1-16)
  history=$(helm_read history "$name" -n "$ns" --max 1 -o json 2>/dev/null || true)
  if [[ $history =~ \"status\":\"(pending-[a-z]+)\" ]]; then
    # helm lost the cluster mid-operation (network, SIGKILL): every upgrade now fails with
    # "another operation is in progress". Only the operator can tell an interrupted run from a
    # colleague's run still under way, so the way out is printed, not taken.
    local status=${BASH_REMATCH[1]} verb=rollback way_out
    [[ $status != pending-install ]] || verb=uninstall
    # printed to be pasted: a context name may hold spaces or shell characters (%q quotes them)
    way_out=$(printf 'helm --kube-context %q %s %q -n %q' "$KUBE_CONTEXT" "$verb" "$name" "$ns")
    local msg="helm release $name in $ns is $status: a helm run on it was interrupted, or is still running. When no one else is running helm on it: $way_out   then: ./runmefirst.sh --from $CURRENT_STEP"
    if ((DRY_RUN)); then
      warn "$msg"
      return 0
    fi
    die "$msg"
  fi
  if [[ $history == *'"status":"deployed"'* && $history == *"fp=$fp"* ]]; then
    if ! controllers_stopped "$name" "$ns"; then
      log "helm release $name in $ns is up to date (fp=$fp): unchanged"
      return 0
    fi
    log "helm release $name in $ns is up to date, but its controllers are scaled to 0 (an interrupted runmelast.sh, or a kubectl scale by hand): applying it again"
  fi
  local args=(upgrade --install "$name" "$chart" -n "$ns" -f "$values")
  [[ -z $extra ]] || args+=(-f "$extra")
  [[ -z $repo ]] || args+=(--repo "$repo")
  [[ -z $version ]] || args+=(--version "$version")
  args+=(--wait --timeout "${WAIT_TIMEOUT}s" --description "stonks-pipeline fp=$fp")
  if ((DRY_RUN)); then
    printf '[dry-run] values for %s:\n%s\n' "$name" "$(sed 's/^/    /' "$values")"
  fi
  helm_mut "${args[@]}"
}

# controllers_stopped NAME NS — true when a workload of the release is at 0 replicas: a Kargo or
# Argo CD controller that runmelast.sh's argocd-quiesce step stopped (a teardown that stopped there), or
# the gate scaled to 0 by hand (`kubectl rollout status` calls a Deployment of 0 replicas rolled
# out, so the run would report the pipeline up without a gate). Applying the release again puts
# the chart's replica counts back.
controllers_stopped() {
  local ref replicas refs=()
  case $1 in
    "$REL_ARGOCD") refs=(statefulset/argocd-application-controller deployment/argocd-applicationset-controller) ;;
    "$REL_KARGO") refs=("deployment/$KARGO_CONTROLLER") ;;
    "$REL_GATE") refs=("deployment/$REL_GATE") ;;
    *) return 1 ;;
  esac
  for ref in "${refs[@]}"; do
    # NotFound (a first install) is not stopped; a read that fails otherwise is no answer: taken
    # for "running", a controller an interrupted teardown left at 0 would stay there
    replicas=$(kc_read get "$ref" -n "$2" --ignore-not-found -o 'jsonpath={.spec.replicas}') ||
      die "cannot read $ref in $2 (kubectl's error above), to tell whether an interrupted teardown left it stopped. Run again when the API server answers."
    [[ $replicas == 0 ]] && return 0
  done
  return 1
}

# secret_hint NS NAME — the command that creates a missing operator Secret. Passwords and tokens
# go in on stdin (read -s and printf are shell builtins): a command-line argument is visible to
# every user in `ps` while the command runs, and stays in the shell's history.
secret_hint() {
  case $2 in
    "$ARC_GITHUB_SECRET")
      printf '  kubectl -n %s create secret generic %s --from-literal=github_app_id=ID --from-literal=github_app_installation_id=ID --from-file=github_app_private_key=app.pem\n' "$1" "$2"
      printf "      (or a PAT: read -rsp 'GitHub token: ' T && printf %%s \"\$T\" | kubectl -n %s create secret generic %s --from-file=github_token=/dev/stdin)\n" "$1" "$2" ;;
    "$KARGO_ADMIN_SECRET")
      # shellcheck disable=SC2016 # printed for the operator to run, not expanded here
      printf '  printf "ADMIN_ACCOUNT_PASSWORD_HASH=%%s\\nADMIN_ACCOUNT_TOKEN_SIGNING_KEY=%%s\\n" "$(htpasswd -nBC 10 "" | tr -d ":\\n")" "$(openssl rand -base64 29 | tr -d "=+/")" | kubectl -n %s create secret generic %s --from-env-file=/dev/stdin   # htpasswd asks for the password\n' "$1" "$2" ;;
    "$GIT_CREDENTIALS_SECRET")
      printf "  read -rsp 'Git token: ' T && printf %%s \"\$T\" | kubectl -n %s create secret generic %s --from-literal=repoURL=https://github.com/%s.git --from-literal=username=USER --from-file=password=/dev/stdin && kubectl -n %s label secret %s kargo.akuity.io/cred-type=git\n" "$1" "$2" "$GITHUB_REPOSITORY" "$1" "$2" ;;
    "$GHCR_CREDENTIALS_SECRET")
      printf "  read -rsp 'GHCR token: ' T && printf %%s \"\$T\" | kubectl -n %s create secret generic %s --from-literal=repoURL='^ghcr\\\\.io/%s/' --from-literal=repoURLIsRegex=true --from-literal=username=USER --from-file=password=/dev/stdin && kubectl -n %s label secret %s kargo.akuity.io/cred-type=image\n" "$1" "$2" "$GITHUB_REPOSITORY" "$1" "$2" ;;
    *) printf '  kubectl -n %s create secret generic %s ...\n' "$1" "$2" ;;
  esac
}

# --- steps ---------------------------------------------------------------------------------

step_preflight() {
  pl_require_tools kubectl helm sha256sum find sort sed
  pl_check_versions
  pl_check_context
  kc_exists clusterissuer "$CLUSTER_ISSUER" ||
    die "cert-manager ClusterIssuer '$CLUSTER_ISSUER' not found (CLUSTER_ISSUER). Install cert-manager and the issuer, or change CLUSTER_ISSUER." 2
  kc_exists ingressclass "$INGRESS_CLASS" ||
    die "IngressClass '$INGRESS_CLASS' not found (INGRESS_CLASS). Is Traefik installed?" 2
  [[ -d $ROOT/helm/gate-service ]] || die "helm/gate-service is missing: run from a full checkout" 2
  if [[ -n $RUNNER_NODE_POOL ]]; then
    # a label key (optional DNS prefix and /), =, a label value: Kubernetes' own syntax
    [[ $RUNNER_NODE_POOL =~ ^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?=[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$ ]] ||
      die "RUNNER_NODE_POOL='$RUNNER_NODE_POOL' is not one node label KEY=VALUE (e.g. stonks.io/pool=ci-runners)" 2
    local pool node taints untainted=()
    pool=$(kc_read get nodes -l "$RUNNER_NODE_POOL" -o name)
    [[ -n $pool ]] ||
      die "no node has the label $RUNNER_NODE_POOL (RUNNER_NODE_POOL): the runners would never be scheduled. Label and taint the pool's nodes first: kubectl label node NODE $RUNNER_NODE_POOL; kubectl taint node NODE $RUNNER_NODE_POOL:NoSchedule" 2
    for node in $pool; do
      taints=$(kc_read get "$node" -o 'jsonpath={.spec.taints}')
      # the taint KEY=VALUE:NoSchedule among the node's taints (kubectl prints them as JSON)
      [[ $taints == *"\"key\":\"${RUNNER_NODE_POOL%%=*}\""* && $taints == *"\"value\":\"${RUNNER_NODE_POOL#*=}\""* && $taints == *'"effect":"NoSchedule"'* ]] || untainted+=("${node#node/}")
    done
    if ((${#untainted[@]})); then
      die "the runner pool's nodes ${untainted[*]} lack the taint $RUNNER_NODE_POOL:NoSchedule (RUNNER_NODE_POOL): other pods (the reporter with its gate-ci token, Kargo, the gate) could be scheduled beside the runners' privileged sidecar. Taint them: kubectl taint node NODE $RUNNER_NODE_POOL:NoSchedule" 2
    fi
    log "runner pool $RUNNER_NODE_POOL: the general runners run only there, and its taint keeps every other pod off it"
  else
    warn "RUNNER_NODE_POOL is not set: the general runners' privileged dind sidecar may share a node with the reporter (gate-ci token), Kargo, Argo CD and the gate (ci/README.md, Security)"
  fi

  local missing=() entry ns name
  for entry in "$NS_ARC_RUNNERS/$ARC_GITHUB_SECRET" "$NS_KARGO/$KARGO_ADMIN_SECRET" \
    "$NS_PROJECT/$GIT_CREDENTIALS_SECRET" \
    ${GATE_IMAGE_PULL_SECRET:+"$NS_GATE/$GATE_IMAGE_PULL_SECRET"}; do
    ns=${entry%%/*} name=${entry#*/}
    if kc_exists secret "$name" -n "$ns"; then
      log "secret $ns/$name: present"
    else
      missing+=("$entry")
    fi
  done
  # Kargo reads GHCR with it only to discover the marker image of private packages; nothing
  # here uses it, and public packages need none (kargo/README.md, Secrets)
  if kc_exists secret "$GHCR_CREDENTIALS_SECRET" -n "$NS_PROJECT"; then
    log "secret $NS_PROJECT/$GHCR_CREDENTIALS_SECRET: present"
  else
    warn "secret $NS_PROJECT/$GHCR_CREDENTIALS_SECRET: absent. Kargo needs it only if the GHCR packages are private (GHCR makes a new package private until it is made public): without it the Warehouse discovers no Freight. To create it:"
    secret_hint "$NS_PROJECT" "$GHCR_CREDENTIALS_SECRET" >&2
  fi
  if kc_exists secret "$GATE_CALLER_SECRET" -n "$NS_PROJECT"; then
    log "secret $NS_PROJECT/$GATE_CALLER_SECRET: present"
  else
    log "secret $NS_PROJECT/$GATE_CALLER_SECRET: absent, will be created as a token of ServiceAccount $GATE_CALLER_SA"
  fi
  if ((${#missing[@]})); then
    {
      printf '\nThese Secrets are missing (names from deploy/pipeline.env):\n'
      printf '  %s\n' "${missing[@]}"
      printf '\nCreate the namespaces (harmless if they exist), then the Secrets, and run ./runmefirst.sh again:\n'
      printf '  ./runmefirst.sh --dry-run | sed -n "/kind: Namespace/,/^    ---/p"   # what will be created\n'
      printf '  kubectl create namespace %s   # for each of: %s %s %s%s\n' "NS" "$NS_ARC_RUNNERS" "$NS_KARGO" "$NS_PROJECT" "${GATE_IMAGE_PULL_SECRET:+ $NS_GATE}"
      printf '  kubectl label namespace %s kargo.akuity.io/project=true   # lets Kargo adopt the project namespace\n' "$NS_PROJECT"
      for entry in "${missing[@]}"; do secret_hint "${entry%%/*}" "${entry#*/}"; done
    } >&2
    if ((DRY_RUN)); then
      warn "preflight would stop here (missing Secrets); --dry-run goes on to show the plan"
    else
      die "preflight: ${#missing[@]} Secret(s) missing (see above)" 2
    fi
  fi
  log "preflight passed"
}

step_namespaces() {
  render_namespaces | pl_apply "namespaces"
}

step_nfs_dirs() {
  if [[ $NFS_INIT != true ]]; then
    log "NFS_INIT=$NFS_INIT: expecting ${NFS_SUBDIRS[*]} to exist under $NFS_SERVER:$NFS_PATH"
    return 0
  fi
  # Made once, by a Job that completed, as recorded then. That the volumes exist says nothing
  # about the directories: a run resumed past this step (--from volumes) creates the volumes
  # without them, and the gate's and the snapshot writer's mounts would then fail.
  local want="$NFS_SERVER:$NFS_PATH ${NFS_SUBDIRS[*]}" made
  made=$(kc_read get configmap "$NFS_DIRS_CONFIGMAP" -n "$NS_KARGO" --ignore-not-found -o 'jsonpath={.data.made}') ||
    die "cannot read ConfigMap $NS_KARGO/$NFS_DIRS_CONFIGMAP (kubectl's error above), the record of the NFS directories made. Run again when the API server answers."
  if [[ $made == "$want" ]]; then
    log "${NFS_SUBDIRS[*]} under $NFS_SERVER:$NFS_PATH were made by an earlier run: nothing to do"
    return 0
  fi
  log "creating ${NFS_SUBDIRS[*]} under $NFS_SERVER:$NFS_PATH"
  if kc_exists job stonks-pipeline-nfs-init -n "$NS_KARGO"; then
    kc_mut delete job stonks-pipeline-nfs-init -n "$NS_KARGO" --wait=true
  fi
  render_nfs_init_job | pl_apply "NFS directory init job"
  if ((!DRY_RUN)); then
    kc_read wait --for=condition=complete job/stonks-pipeline-nfs-init -n "$NS_KARGO" --timeout=180s ||
      die "the NFS init job did not complete: kubectl -n $NS_KARGO logs job/stonks-pipeline-nfs-init. If the export squashes root, create the directories by hand and set NFS_INIT=false."
  fi
  render_nfs_dirs_made "$want" | pl_apply "the record of the NFS directories made"
}

step_volumes() {
  local entry pv phase policy
  for entry in "${PIPELINE_VOLUMES[@]}"; do
    pv=${entry%%|*}
    if kc_exists pv "$pv"; then
      phase=$(kc_read get pv "$pv" -o 'jsonpath={.status.phase}')
      policy=$(kc_read get pv "$pv" -o 'jsonpath={.spec.persistentVolumeReclaimPolicy}')
      if [[ $policy != Retain ]]; then
        warn "pv $pv had reclaim policy '$policy': setting Retain"
        kc_mut patch pv "$pv" --type merge -p '{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}'
      fi
      if [[ $phase == Released ]]; then
        # Left by an earlier teardown (its claim was deleted): forget the old claim's uid so
        # the same-named claim binds again and finds the old data. A merge patch's null removes
        # a field that is there and passes over one that is not (a JSON-patch remove of a missing
        # resourceVersion failed the run, every run).
        log "pv $pv is Released: making it bindable again for its claim"
        kc_mut patch pv "$pv" --type merge \
          -p '{"spec":{"claimRef":{"uid":null,"resourceVersion":null}}}'
      else
        log "pv $pv is ${phase:-unknown}"
      fi
    fi
    render_volume "$entry" | pl_apply "volume $pv"
  done
}

step_accounts() {
  render_accounts | pl_apply "gate-caller and gate-ci ServiceAccounts"
  if kc_exists secret "$GATE_CALLER_SECRET" -n "$NS_PROJECT"; then
    log "secret $NS_PROJECT/$GATE_CALLER_SECRET exists: left as it is"
  else
    render_gate_caller_secret | pl_apply "gate-caller token Secret"
  fi
}

step_arc_controller() {
  helm_release "$REL_ARC_CONTROLLER" "$NS_ARC_SYSTEMS" "$ARC_CHART_REPO/gha-runner-scale-set-controller" \
    "$ARC_CHART_VERSION" render_values_arc_controller
}

# Two scale sets: the general runners (no gate identity) and the reporter (gate-ci), so that only
# the job that reports integration-test results can record them.
step_arc_runners() {
  helm_release "$RUNNER_LABEL" "$NS_ARC_RUNNERS" "$ARC_CHART_REPO/gha-runner-scale-set" \
    "$ARC_CHART_VERSION" render_values_arc_runners
  helm_release "$REPORT_RUNNER_LABEL" "$NS_ARC_RUNNERS" "$ARC_CHART_REPO/gha-runner-scale-set" \
    "$ARC_CHART_VERSION" render_values_arc_reporters
}

step_argo_cd() {
  # The argo-helm charts come from their repository URL: no `helm repo add` state to manage.
  helm_release "$REL_ARGOCD" "$NS_ARGOCD" argo-cd "$ARGOCD_CHART_VERSION" render_values_argocd "$ARGO_HELM_REPO"
}

step_argo_rollouts() {
  helm_release "$REL_ROLLOUTS" "$NS_ROLLOUTS" "argo-rollouts" "$ROLLOUTS_CHART_VERSION" render_values_rollouts "$ARGO_HELM_REPO"
}

step_kargo() {
  helm_release "$REL_KARGO" "$NS_KARGO" "$KARGO_CHART" "$KARGO_CHART_VERSION" render_values_kargo
}

# Right after its volume and accounts, before every release that calls it: the reporter runners
# pick up CI jobs queued meanwhile as soon as their scale set registers (the report gives up
# after about 30 s without the gate), Argo Rollouts resumes Kargo's verifications (an analysis
# errors out after more than 4 failed measurements in a row), and Kargo resumes its promotions.
# It needs nothing the other releases install: cert-manager and Traefik are there before
# (preflight).
step_gate() {
  helm_release "$REL_GATE" "$NS_GATE" "$ROOT/helm/gate-service" "" render_values_gate "" "$ROOT/helm/gate-service"
  if ((!DRY_RUN)); then
    kc_read rollout status deployment/"$REL_GATE" -n "$NS_GATE" --timeout="${WAIT_TIMEOUT}s"
  fi
}

# kargo_files — the files of KARGO_RESOURCES_DIR to apply: YAML, not under examples/, not
# *.example.yaml, not a kustomization; files declaring a Project first.
kargo_files() {
  local dir=$1 f
  # a listing that fails (an unreadable subdirectory) fails the step: said here, since a failed
  # pipeline inside a function called with || does not stop it by itself
  find "$dir" -type f \( -name '*.yaml' -o -name '*.yml' \) \
    ! -path '*/examples/*' ! -name '*.example.yaml' ! -name '*.example.yml' \
    ! -name 'kustomization.yaml' ! -name 'kustomization.yml' | LC_ALL=C sort >"$WORK/kargo-files" || return 1
  while IFS= read -r f; do grep -Eq '^kind:[[:space:]]*Project[[:space:]]*$' "$f" && printf '%s\n' "$f"; done <"$WORK/kargo-files"
  while IFS= read -r f; do grep -Eq '^kind:[[:space:]]*Project[[:space:]]*$' "$f" || printf '%s\n' "$f"; done <"$WORK/kargo-files"
}

# pinned_copy FILE — for a file declaring one Argo CD Application whose targetRevision is a commit
# SHA (pinned by a promotion's argocd-update step) — live, or, when the Application does not
# exist, as runmelast.sh recorded it before removing it — the path of a copy of FILE with that
# SHA as its targetRevision; otherwise nothing. Applying the file's `targetRevision: main` again
# would unpin the stage: Argo CD then compares it with the head of main, and a sync from its UI
# deploys commits no promotion (and no gate decision) let through.
pinned_copy() {
  local f=$1 name ns live copy found pins crd
  [[ $(grep -c '^kind:' "$f") == 1 && $(grep -Ec '^[[:space:]]+targetRevision:' "$f") == 1 ]] || return 0
  name=$(sed -n '/^metadata:/,/^[^[:space:]]/s/^  name:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}[[:space:]]*$/\1/p' "$f" | head -n1)
  ns=$(sed -n '/^metadata:/,/^[^[:space:]]/s/^  namespace:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}[[:space:]]*$/\1/p' "$f" | head -n1)
  [[ -n $name ]] || return 0
  # A read that fails is not an answer: taken for "no Application" or "no pin", the stage would
  # be created at main, unpinned. Only NotFound (empty with --ignore-not-found) means absent.
  # Without the Application CRD (a --dry-run before Argo CD is installed) there is no Application
  # to keep a commit of, and reading one would fail: nothing to pin.
  crd=$(kc_read get crd applications.argoproj.io --ignore-not-found -o name) ||
    die "cannot read the CustomResourceDefinition applications.argoproj.io, to keep the commits promotions pinned; nothing of ${f#"$ROOT"/} applied. Run again when the API server answers."
  [[ -n $crd ]] || return 0
  found=$(kc_read get "application.argoproj.io/$name" -n "${ns:-$NS_ARGOCD}" --ignore-not-found -o name) ||
    die "cannot read Argo CD Application ${ns:-$NS_ARGOCD}/$name to keep the commit a promotion pinned on it; nothing of ${f#"$ROOT"/} applied. Run again when the API server answers."
  if [[ -n $found ]]; then
    live=$(kc_read get "application.argoproj.io/$name" -n "${ns:-$NS_ARGOCD}" -o 'jsonpath={.spec.source.targetRevision}') ||
      die "cannot read the targetRevision of Argo CD Application ${ns:-$NS_ARGOCD}/$name; nothing of ${f#"$ROOT"/} applied. Run again when the API server answers."
  else
    pins=$(kc_read get configmap "$APP_PINS_CONFIGMAP" -n "$NS_ARGOCD" --ignore-not-found -o 'jsonpath={.data.pins}') ||
      die "cannot read ConfigMap $NS_ARGOCD/$APP_PINS_CONFIGMAP (the commits runmelast.sh recorded) for Application $name; nothing of ${f#"$ROOT"/} applied. Run again when the API server answers."
    live=$(sed -n "s/^$name \([0-9a-f]\{40\}\)$/\1/p" <<<"$pins" | tail -n1)
  fi
  [[ $live =~ ^[0-9a-f]{40}$ ]] || return 0
  copy="$WORK/pinned-${f##*/}"
  # quoted: a commit of digits only (or digits and one "e") would otherwise be a YAML number
  sed "s/^\([[:space:]]*targetRevision:\).*$/\1 \"$live\"/" "$f" >"$copy"
  printf '%s\n' "$copy"
}

# declares_application FILE — true when FILE declares an Argo CD Application (the applications
# step applies it; kargo-resources leaves it).
declares_application() {
  grep -Eq '^kind:[[:space:]]*Application[[:space:]]*$' "$1"
}

# apply_kargo_dir WHICH — applies the files of KARGO_RESOURCES_DIR (kargo_files) that declare an
# Argo CD Application (WHICH=applications) or the others (WHICH=others). Never a file that
# declares a Secret.
apply_kargo_dir() {
  local which=$1 dir=$KARGO_RESOURCES_DIR f applied=0 pinned what
  [[ $which == applications ]] && what="Argo CD Application file(s)" || what="Kargo resource file(s)"
  [[ $dir == /* ]] || dir="$ROOT/$dir"
  if [[ ! -d $dir ]]; then
    warn "no $KARGO_RESOURCES_DIR/ directory: no $what applied"
    return 0
  fi
  # listed in this shell, not in a process substitution, whose failure bash never looks at: an
  # empty list would apply nothing, and the applications step would then drop the recorded pins
  kargo_files "$dir" >"$WORK/kargo-list" || die "cannot list the files of $KARGO_RESOURCES_DIR/ (find's error above); nothing of it applied"
  while IFS= read -r f; do
    if declares_application "$f"; then
      [[ $which == applications ]] || continue
    else
      [[ $which == others ]] || continue
    fi
    if grep -Eq '^kind:[[:space:]]*Secret[[:space:]]*$' "$f"; then
      warn "skipped ${f#"$ROOT"/}: it declares a Secret (create Secrets yourself; see docs/deployment.md)"
      continue
    fi
    if [[ $which == applications ]]; then
      if grep -Eq '^[[:space:]]+namespace:[[:space:]]*"?stonks-oracle"?[[:space:]]*$' "$f" &&
        grep -Eq '^[[:space:]]+automated:' "$f"; then
        pl_refuse "${f#"$ROOT"/} is an Argo CD Application for stonks-oracle with automated sync: applying it would change the live application. Kargo must sync live, not Argo CD on its own."
      fi
      pinned=$(pinned_copy "$f")
      if [[ -n $pinned ]]; then
        log "${f#"$ROOT"/}: keeping the commit a promotion pinned ($(sed -n 's/^[[:space:]]*targetRevision:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' "$pinned"))"
        f=$pinned
      fi
    fi
    kc_mut apply -f "$f"
    applied=$((applied + 1))
  done <"$WORK/kargo-list"
  log "$applied $what from $KARGO_RESOURCES_DIR/ applied"
}

# Before Kargo's controller: after a teardown it resumes the promotions it had under way, and an
# argocd-update step that finds no Application fails the promotion (it must be promoted again).
step_applications() {
  if ((!DRY_RUN)); then
    kc_read wait --for=condition=established --timeout=180s crd/applications.argoproj.io
  fi
  apply_kargo_dir applications
  # The pins runmelast.sh recorded are in the Applications now; left, they would pin an
  # Application deleted by hand later to a commit older than its last promotion.
  if kc_exists configmap "$APP_PINS_CONFIGMAP" -n "$NS_ARGOCD"; then
    kc_mut delete configmap "$APP_PINS_CONFIGMAP" -n "$NS_ARGOCD"
  fi
}

step_kargo_resources() {
  if ((!DRY_RUN)); then
    kc_read wait --for=condition=established --timeout=180s \
      crd/projects.kargo.akuity.io crd/warehouses.kargo.akuity.io crd/stages.kargo.akuity.io \
      crd/analysistemplates.argoproj.io
  fi
  apply_kargo_dir others
}

step_summary() {
  cat >&2 <<EOF

The pipeline is up$( ((DRY_RUN)) && printf ' (dry run: nothing was changed)').
  Argo CD   https://$ARGOCD_HOST   (admin password: kubectl -n $NS_ARGOCD get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d)
  Kargo     https://$KARGO_HOST    (admin password: the one hashed in secret $NS_KARGO/$KARGO_ADMIN_SECRET)
  Gate      https://$GATE_HOST_NAME  in-cluster http://$REL_GATE.$NS_GATE.svc.cluster.local:8080
  Runners   runs-on: $RUNNER_LABEL  (https://github.com/$GITHUB_REPOSITORY, $ARC_MIN_RUNNERS..$ARC_MAX_RUNNERS pods, no gate identity)
            runs-on: $REPORT_RUNNER_LABEL  (the report job only, 0..$REPORT_MAX_RUNNERS pods, ServiceAccount $GATE_CI_SA)
  Data      $NFS_SERVER:$NFS_PATH/{${NFS_SUBDIRS[*]}}  (PersistentVolumes stonks-pipeline-*, Retain)
Take it down with ./runmelast.sh (keeps every volume and writes a snapshot to backups/).
EOF
}

pl_load_env "$ROOT"
((DRY_RUN)) && log "DRY RUN: printing every change, changing nothing"
pl_run_steps "$FROM" "${STEPS[@]}"
