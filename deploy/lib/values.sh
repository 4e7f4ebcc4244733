# shellcheck shell=bash
# Helm values of every release, rendered from the settings. Each function prints YAML on stdout.
# Keys were checked against each chart's values.yaml at the pinned version (docs/deployment.md).

# Annotations that put an Ingress behind Traefik's TLS entrypoint with a cert-manager certificate.
render_ingress_annotations() {
  local indent=$1
  cat <<EOF | sed "s/^/$indent/"
cert-manager.io/cluster-issuer: $CLUSTER_ISSUER
traefik.ingress.kubernetes.io/router.entrypoints: websecure
traefik.ingress.kubernetes.io/router.tls: "true"
EOF
}

# gha-runner-scale-set-controller: defaults; one controller for the cluster.
render_values_arc_controller() {
  cat <<EOF
replicaCount: 1
flags:
  logLevel: info
EOF
}

# gha-runner-scale-set: ephemeral runner pods for the repository, scaling from zero. The release
# name is the scale set name, i.e. the label workflows target. Every job but the report to the
# gate runs here (tests, dependencies' install scripts, image builds): the pods run as the chart's
# own no-permission ServiceAccount with no token mounted, so nothing here can act as gate-ci.
render_values_arc_runners() {
  cat <<EOF
githubConfigUrl: https://github.com/$GITHUB_REPOSITORY
githubConfigSecret: $ARC_GITHUB_SECRET
runnerScaleSetName: $RUNNER_LABEL
minRunners: $ARC_MIN_RUNNERS
maxRunners: $ARC_MAX_RUNNERS
controllerServiceAccount:
  namespace: $NS_ARC_SYSTEMS
  name: $REL_ARC_CONTROLLER-gha-rs-controller
EOF
  if [[ -n $ARC_CONTAINER_MODE ]]; then
    cat <<EOF
containerMode:
  type: $ARC_CONTAINER_MODE
EOF
  fi
  cat <<EOF
template:
  spec:
    # no serviceAccountName: the chart's no-permission account; and no token in the pod at all
    automountServiceAccountToken: false
EOF
  if [[ -n $RUNNER_NODE_POOL ]]; then
    # only on the pool's nodes, whose taint keeps every other pod off them (RUNNER_NODE_POOL)
    cat <<EOF
    nodeSelector: { "${RUNNER_NODE_POOL%%=*}": "${RUNNER_NODE_POOL#*=}" }
    tolerations:
      - { key: "${RUNNER_NODE_POOL%%=*}", operator: Equal, value: "${RUNNER_NODE_POOL#*=}", effect: NoSchedule }
EOF
  fi
  cat <<EOF
    containers:
      - name: runner
        image: $RUNNER_IMAGE
        command: ["/home/runner/run.sh"]
EOF
}

# gha-runner-scale-set for the report job only (runs-on: the reporter label): its pods run as
# gate-ci, the identity bound to the gate's ci role, whose token the report script presents to
# record test results. No Docker (default container mode, nothing privileged), one pod at a time
# by default; the job checks out .github/pipeline (a cone-mode sparse checkout: with the
# files directly in the root and in .github/, no other directory) and runs no code of the
# repository.
render_values_arc_reporters() {
  cat <<EOF
githubConfigUrl: https://github.com/$GITHUB_REPOSITORY
githubConfigSecret: $ARC_GITHUB_SECRET
runnerScaleSetName: $REPORT_RUNNER_LABEL
minRunners: 0
maxRunners: $REPORT_MAX_RUNNERS
controllerServiceAccount:
  namespace: $NS_ARC_SYSTEMS
  name: $REL_ARC_CONTROLLER-gha-rs-controller
template:
  spec:
    serviceAccountName: $GATE_CI_SA
    containers:
      - name: runner
        image: $RUNNER_IMAGE
        command: ["/home/runner/run.sh"]
EOF
}

# argo-cd: UI behind Traefik (TLS terminated there, so the server runs plain HTTP), CRDs kept on
# uninstall, no Dex (local admin; add SSO later).
render_values_argocd() {
  cat <<EOF
global:
  domain: $ARGOCD_HOST
crds:
  install: true
  keep: true
configs:
  params:
    server.insecure: true
dex:
  enabled: false
server:
  ingress:
    enabled: true
    ingressClassName: $INGRESS_CLASS
    hostname: $ARGOCD_HOST
    tls: true
    annotations:
$(render_ingress_annotations '      ')
EOF
}

# argo-rollouts: the controller only (Kargo's verification runs AnalysisRuns through it).
render_values_rollouts() {
  cat <<EOF
keepCRDs: true
installCRDs: true
controller:
  replicas: 1
dashboard:
  enabled: false
EOF
}

# kargo: API/UI behind Traefik with a cert from the ClusterIssuer, admin account from an
# operator-provided Secret, Rollouts integration on, CRDs (and so all Kargo state) kept on uninstall.
render_values_kargo() {
  cat <<EOF
crds:
  install: true
  keep: true
api:
  host: $KARGO_HOST
  secret:
    name: $KARGO_ADMIN_SECRET
  tls:
    enabled: false
    terminatedUpstream: true
  ingress:
    enabled: true
    ingressClassName: $INGRESS_CLASS
    pathType: Prefix
    annotations:
$(render_ingress_annotations '      ')
    tls:
      enabled: true
      selfSignedCert: false
      secretName: kargo-api-ingress-cert
  argocd:
    urls:
      "": https://$ARGOCD_HOST
controller:
  rollouts:
    integrationEnabled: true
EOF
}

# gate-service (this repository's chart): its claim on the gate/ volume, ingress, the caller
# and CI bindings, and the NetworkPolicy, which admits what calls the gate here: the controllers
# of the kargo and argo-rollouts releases (http steps; the AnalysisRuns' web metrics), the runner
# pods (plan reads the toggles, report posts results) and Traefik (the chart's default pod labels).
render_values_gate() {
  cat <<EOF
image:
  repository: $GATE_IMAGE_REPOSITORY
  tag: "$GATE_IMAGE_TAG"
EOF
  if [[ -n $GATE_IMAGE_PULL_SECRET ]]; then
    printf 'imagePullSecrets: [%s]\n' "$GATE_IMAGE_PULL_SECRET"
  fi
  cat <<EOF
persistence:
  existingClaim: $GATE_CLAIM
ingress:
  enabled: true
  className: $INGRESS_CLASS
  host: $GATE_HOST_NAME
  clusterIssuer: $CLUSTER_ISSUER
rbac:
  createClusterRoles: true
  bindings:
    - role: caller
      name: gate-caller
      subjects:
        - { kind: ServiceAccount, name: $GATE_CALLER_SA, namespace: $NS_PROJECT }
    - role: ci
      name: gate-ci
      subjects:
        - { kind: ServiceAccount, name: $GATE_CI_SA, namespace: $NS_ARC_RUNNERS }
networkPolicy:
  enabled: $GATE_NETWORK_POLICY
  callers:
    - namespace: $NS_KARGO
      podLabels: { app.kubernetes.io/instance: $REL_KARGO, app.kubernetes.io/component: controller }
    - namespace: $NS_ROLLOUTS
      podLabels: { app.kubernetes.io/instance: $REL_ROLLOUTS, app.kubernetes.io/component: rollouts-controller }
    - namespace: $NS_ARC_RUNNERS
  ingressNamespace: $INGRESS_NAMESPACE
EOF
}
