#!/usr/bin/env bash
# Takes the Stonks Oracle delivery pipeline down and keeps its data:
#   1. writes a timestamped snapshot of Kargo's resources and Argo CD's applications and
#      projects to the backups/ NFS volume (nothing is removed if that fails);
#   2. stops Kargo's and Argo CD's controllers and removes Argo CD's Applications WITHOUT cascading (their
#      finalizers are removed first, so the workloads they deployed stay; the commit each was
#      pinned to is kept in the ConfigMap argocd/stonks-pipeline-app-pins for runmefirst.sh);
#   3. uninstalls the Helm releases in reverse install order.
# PersistentVolumes, claims, namespaces, CRDs and the NFS data stay. Nothing in stonks-oracle
# (nor the beta and paper namespaces) is touched: every change passes a guard that refuses it.
#
# Usage: ./runmelast.sh [--dry-run] [--yes] [--from STEP] [--list-steps]
# Documentation: docs/deployment.md
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib/common.sh
source "$ROOT/deploy/lib/common.sh"
# shellcheck source=deploy/lib/manifests.sh
source "$ROOT/deploy/lib/manifests.sh"
SCRIPT_NAME=runmelast.sh

STEPS=(preflight snapshot argocd-quiesce argocd-apps releases summary)
WRITER_POD=stonks-pipeline-snapshot-writer
APP_FINALIZER_PATCH='{"metadata":{"finalizers":null}}'

usage() {
  cat <<EOF
Usage: ./runmelast.sh [--dry-run] [--yes] [--from STEP] [--list-steps]

  --dry-run     print every change it would make, change nothing (the snapshot is still
                collected locally and its summary printed, but not written to the volume)
  --yes         do not ask for confirmation
  --from STEP   resume at STEP after a failure (preflight always runs)
  --list-steps  print the steps and exit

Steps: ${STEPS[*]}
EOF
}

YES=0
# --yes / -y: do not ask for confirmation (the options both scripts take: pl_parse_args)
pl_extra_option() {
  case $1 in
    --yes | -y) YES=1 ;;
    *) return 1 ;;
  esac
}
pl_parse_args "$@"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/runmelast.XXXXXX")
cleanup() {
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'pl_on_error $LINENO $?' ERR

# Releases in reverse install order: namespace/release. The gate goes last, after everything
# that calls it (Kargo, Argo Rollouts' verifications, the reporter runners' CI jobs): until they
# are gone, a call that finds no gate counts against a verification or fails a report.
release_order() {
  printf '%s\n' "$NS_KARGO/$REL_KARGO" "$NS_ROLLOUTS/$REL_ROLLOUTS" "$NS_ARGOCD/$REL_ARGOCD" \
    "$NS_ARC_RUNNERS/$REPORT_RUNNER_LABEL" "$NS_ARC_RUNNERS/$RUNNER_LABEL" \
    "$NS_ARC_SYSTEMS/$REL_ARC_CONTROLLER" "$NS_GATE/$REL_GATE"
}

# What the snapshot holds: directory, file, CRD (or "" for none), resource, scope.
SNAPSHOT_KINDS=(
  "kargo|projects|projects.kargo.akuity.io|projects.kargo.akuity.io|cluster"
  "kargo|projectconfigs|projectconfigs.kargo.akuity.io|projectconfigs.kargo.akuity.io|all"
  "kargo|warehouses|warehouses.kargo.akuity.io|warehouses.kargo.akuity.io|all"
  "kargo|stages|stages.kargo.akuity.io|stages.kargo.akuity.io|all"
  "kargo|freight|freights.kargo.akuity.io|freights.kargo.akuity.io|all"
  "kargo|promotions|promotions.kargo.akuity.io|promotions.kargo.akuity.io|all"
  "kargo|analysistemplates|analysistemplates.argoproj.io|analysistemplates.argoproj.io|project"
  "argocd|applications|applications.argoproj.io|applications.argoproj.io|argocd"
  "argocd|appprojects|appprojects.argoproj.io|appprojects.argoproj.io|argocd"
  "argocd|applicationsets|applicationsets.argoproj.io|applicationsets.argoproj.io|argocd"
)

# --- steps ---------------------------------------------------------------------------------

step_preflight() {
  pl_require_tools kubectl helm tar sha256sum
  pl_check_versions
  pl_check_context
  kc_exists pvc "$BACKUPS_CLAIM" -n "$NS_GATE" ||
    die "the backups claim $NS_GATE/$BACKUPS_CLAIM does not exist, so no snapshot can be written and nothing will be removed. Run ./runmefirst.sh first (it creates what is missing, and leaves what is there as it is unless your settings changed it)." 2
  if ((!DRY_RUN && !YES)); then
    if [[ ! -t 0 ]]; then
      die "refusing to tear down without confirmation: run with --yes (or from a terminal)" 2
    fi
    printf 'This removes the pipeline (Argo CD applications without cascading, then the Helm releases)\nfrom context %s. Volumes, data and stonks-oracle stay. Type "teardown" to go on: ' "$KUBE_CONTEXT" >&2
    local answer
    read -r answer
    [[ $answer == teardown ]] || die "not confirmed; nothing was changed" 2
  fi
  log "preflight passed"
}

step_snapshot() {
  local ts dir entry sub file crd resource scope count total=0
  ts=$(date -u +%Y%m%dT%H%M%SZ)
  dir="$WORK/$ts"
  mkdir -p "$dir/kargo" "$dir/argocd"
  for entry in "${SNAPSHOT_KINDS[@]}"; do
    IFS='|' read -r sub file crd resource scope <<<"$entry"
    if ! kc_found crd "$crd"; then
      printf '# %s: CRD %s not installed, nothing to save\n' "$resource" "$crd" >"$dir/$sub/$file.yaml"
      log "snapshot: $resource not installed"
      continue
    fi
    case $scope in
      cluster) kc_read get "$resource" -o yaml >"$dir/$sub/$file.yaml" ;;
      all) kc_read get "$resource" -A -o yaml >"$dir/$sub/$file.yaml" ;;
      project) kc_read get "$resource" -n "$NS_PROJECT" -o yaml >"$dir/$sub/$file.yaml" ;;
      argocd) kc_read get "$resource" -n "$NS_ARGOCD" -o yaml >"$dir/$sub/$file.yaml" ;;
    esac
    count=$(grep -c '^- ' "$dir/$sub/$file.yaml" || true) # one top-level item per object
    total=$((total + count))
    log "snapshot: $count $resource"
  done
  {
    printf 'snapshot: %s\ncontext: %s\ncreated-by: runmelast.sh\nobjects: %s\n' "$ts" "$KUBE_CONTEXT" "$total"
    printf 'restore: see docs/deployment.md, "What survives a teardown"\n'
  } >"$dir/SNAPSHOT.txt"
  (cd "$dir" && find . -type f | LC_ALL=C sort | xargs sha256sum >"$WORK/SHA256SUMS.$ts")
  mv "$WORK/SHA256SUMS.$ts" "$dir/SHA256SUMS"

  if [[ -n $LOCAL_SNAPSHOT_DIR ]]; then
    mkdir -p "$LOCAL_SNAPSHOT_DIR"
    cp -R "$dir" "$LOCAL_SNAPSHOT_DIR/"
    log "local copy: $LOCAL_SNAPSHOT_DIR/$ts"
  fi
  if ((DRY_RUN)); then
    printf '[dry-run] would write snapshot %s (%s objects) to %s/%s on the backups volume\n' "$ts" "$total" "$NFS_PATH/backups" "$ts"
  fi

  # Stream it onto the backups volume through a pod that mounts the claim.
  if kc_exists pod "$WRITER_POD" -n "$NS_GATE"; then
    kc_mut delete pod "$WRITER_POD" -n "$NS_GATE" --wait=true
  fi
  render_backup_writer "$WRITER_POD" | pl_apply "snapshot writer pod"
  if ((!DRY_RUN)); then
    kc_read wait --for=condition=Ready "pod/$WRITER_POD" -n "$NS_GATE" --timeout=180s ||
      die "the snapshot writer pod did not start: kubectl -n $NS_GATE describe pod $WRITER_POD"
    tar -C "$WORK" -cf - "$ts" | kc_mut exec -i -n "$NS_GATE" "$WRITER_POD" -- tar -C /backups -xf -
    kc_mut exec -n "$NS_GATE" "$WRITER_POD" -- sh -c "cd /backups/$ts && sha256sum -c SHA256SUMS >/dev/null" ||
      die "the snapshot on the backups volume does not verify; nothing was removed"
    log "snapshot $ts written and verified on $NFS_SERVER:$NFS_PATH/backups/$ts"
  fi
  kc_mut delete pod "$WRITER_POD" -n "$NS_GATE" --wait=false
}

step_argocd_quiesce() {
  # Kargo's controller first: a promotion it finished after argocd-apps read the Applications'
  # pins (its argocd-update step pins one) would not be recorded, and runmefirst.sh would create
  # that stage's Application again at the commit before, which a sync then deploys. The releases
  # step uninstalls Kargo anyway; runmefirst.sh applies its release again (controllers_stopped).
  if kc_found deployment "$KARGO_CONTROLLER" -n "$NS_KARGO"; then
    kc_mut scale "deployment/$KARGO_CONTROLLER" -n "$NS_KARGO" --replicas=0
    ((DRY_RUN)) || kc_read wait --for=delete pod -l "app.kubernetes.io/instance=$REL_KARGO,app.kubernetes.io/component=controller" \
      -n "$NS_KARGO" --timeout=120s
  fi
  # With the controllers stopped nothing acts on an Application while its finalizers go, and
  # the ApplicationSet controller cannot recreate Applications behind our back.
  local stopped=0
  if kc_found deployment argocd-applicationset-controller -n "$NS_ARGOCD"; then
    kc_mut scale deployment/argocd-applicationset-controller -n "$NS_ARGOCD" --replicas=0
    stopped=1
  fi
  if kc_found statefulset argocd-application-controller -n "$NS_ARGOCD"; then
    kc_mut scale statefulset/argocd-application-controller -n "$NS_ARGOCD" --replicas=0
    ((DRY_RUN)) || kc_read wait --for=delete pod -l app.kubernetes.io/name=argocd-application-controller \
      -n "$NS_ARGOCD" --timeout=120s
    stopped=1
  fi
  ((stopped)) || log "Argo CD controllers not running: nothing to stop"
}

# set by a dry run's argocd-apps, which plans the Applications' removal without making it
APPS_PLANNED_AWAY=0

step_argocd_apps() {
  ((!DRY_RUN)) || APPS_PLANNED_AWAY=1
  if ! kc_found crd applications.argoproj.io; then
    log "no Application CRD: no Argo CD applications"
    return 0
  fi
  local apps app finalizers n=0 rev pins="" name recorded="" present=" " had_pins=0 found
  apps=$(kc_read get applications.argoproj.io -n "$NS_ARGOCD" -o name)
  # The commit a promotion pinned on an Application (its targetRevision, set by Kargo's
  # argocd-update) goes with it: runmefirst.sh would create it again at the file's `main`, and a
  # sync from Argo CD's UI would then deploy main's head. Each pin is kept in a ConfigMap that
  # runmefirst.sh reads. An Application found now is recorded as it is now (pinned or not: a pin
  # recorded earlier for it is stale); the pins an earlier, interrupted teardown recorded for the
  # Applications it had already removed are kept.
  for app in $apps; do
    present+="${app##*/} "
    rev=$(kc_read get "application.argoproj.io/${app##*/}" -n "$NS_ARGOCD" -o 'jsonpath={.spec.source.targetRevision}')
    [[ ! $rev =~ ^[0-9a-f]{40}$ ]] || pins+="${app##*/} $rev"$'\n'
  done
  # a read that fails stops the step here (taken for "no pins recorded", the pins of Applications
  # an interrupted teardown removed would be written over); only NotFound means none
  found=$(kc_read get configmap "$APP_PINS_CONFIGMAP" -n "$NS_ARGOCD" --ignore-not-found -o name)
  if [[ -n $found ]]; then
    had_pins=1
    recorded=$(kc_read get configmap "$APP_PINS_CONFIGMAP" -n "$NS_ARGOCD" -o 'jsonpath={.data.pins}')
  fi
  while read -r name rev; do
    [[ -z $name || $present == *" $name "* ]] || pins+="$name $rev"$'\n'
  done <<<"$recorded"
  if [[ -z $pins ]]; then
    # the pins recorded were all for Applications found here unpinned
    ((!had_pins)) || kc_mut delete configmap "$APP_PINS_CONFIGMAP" -n "$NS_ARGOCD"
  elif [[ $(sed '/^$/d' <<<"$pins" | LC_ALL=C sort) != "$(sed '/^$/d' <<<"$recorded" | LC_ALL=C sort)" ]]; then
    render_app_pins "$pins" | pl_apply "the commits the Applications are pinned to"
  fi
  for app in $apps; do
    app=${app##*/}
    # Non-cascading: drop the finalizers first, so deleting the Application cannot delete the
    # workloads it deployed (in stonks-oracle-beta, stonks-oracle-paper or stonks-oracle).
    kc_mut patch "application.argoproj.io/$app" -n "$NS_ARGOCD" --type merge -p "$APP_FINALIZER_PATCH"
    if ((!DRY_RUN)); then
      finalizers=$(kc_read get "application.argoproj.io/$app" -n "$NS_ARGOCD" -o 'jsonpath={.metadata.finalizers}')
      if [[ -n $finalizers && $finalizers != "[]" ]]; then
        pl_refuse "Application $app still has finalizers ($finalizers): deleting it could cascade into the application's namespaces"
      fi
    fi
    kc_mut delete "application.argoproj.io/$app" -n "$NS_ARGOCD" --cascade=orphan --wait=true
    n=$((n + 1))
  done
  log "$n Argo CD application(s) removed without cascading; their workloads stay"
}

step_releases() {
  local entry ns rel manifest apps
  # Before the first uninstall: with Applications left (a run resumed here, past the steps that
  # remove them) the step would uninstall the releases before Argo CD's and then stop at it.
  # Their removal needs the controllers stopped first (argocd-quiesce), so that is where to go on.
  if kc_found crd applications.argoproj.io; then
    apps=$(kc_read get applications.argoproj.io -n "$NS_ARGOCD" -o name) ||
      die "cannot read the Argo CD Applications in $NS_ARGOCD; nothing was uninstalled. Run again when the API server answers."
    # a dry run that went through argocd-apps has only planned their removal: the real run gets here without them
    if [[ -n $apps ]] && ! ((DRY_RUN && APPS_PLANNED_AWAY)); then
      pl_refuse "Argo CD Applications still exist ($(tr '\n' ' ' <<<"$apps")); nothing was uninstalled. Run ./runmelast.sh --from argocd-quiesce first, so Kargo's and Argo CD's controllers are stopped and the Applications removed without cascading"
    fi
  fi
  while IFS= read -r entry; do
    ns=${entry%%/*} rel=${entry#*/}
    if ! helm_read status "$rel" -n "$ns" >/dev/null 2>&1; then
      log "helm release $rel in $ns: not installed"
      continue
    fi
    manifest=$(helm_read get manifest "$rel" -n "$ns")
    if grep -Eq '^[[:space:]]*namespace:[[:space:]]*"?(stonks-oracle|stonks-oracle-beta|stonks-oracle-paper)"?[[:space:]]*$' <<<"$manifest"; then
      pl_refuse "helm release $rel in $ns owns objects in an application namespace; uninstalling it would delete them. Remove them from the release first."
    fi
    helm_mut uninstall "$rel" -n "$ns" --wait --timeout "${WAIT_TIMEOUT}s"
  done < <(release_order)
}

step_summary() {
  cat >&2 <<EOF

The pipeline is down$( ((DRY_RUN)) && printf ' (dry run: nothing was changed)').
Kept: the PersistentVolumes stonks-pipeline-* (Retain) and their claims, the NFS data under
$NFS_SERVER:$NFS_PATH, the namespaces and your Secrets, the CRDs and every Kargo resource
(projects, warehouses, stages, freight, promotions) and Argo CD AppProjects in etcd, and the
application in stonks-oracle, stonks-oracle-beta and stonks-oracle-paper.
Snapshot: $NFS_PATH/backups/<timestamp>/ on the backups volume.
Stand it up again with ./runmefirst.sh: the gate finds its audit log and state on its volume.
EOF
}

pl_load_env "$ROOT"
((DRY_RUN)) && log "DRY RUN: printing every change, changing nothing"
pl_run_steps "$FROM" "${STEPS[@]}"
