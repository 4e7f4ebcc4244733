# shellcheck shell=bash
# Manifests runmefirst.sh and runmelast.sh apply, rendered from the settings. Each function
# prints YAML on stdout; nothing here talks to the cluster.

# The pipeline's NFS volumes: PV name, subdirectory, claim namespace, claim name, size variable,
# access mode, and what uses it (docs/deployment.md explains each).
# shellcheck disable=SC2034 # read by the scripts that source this file
readonly PIPELINE_VOLUMES=(
  "stonks-pipeline-gate|gate|stonks-gate|gate-data|GATE_VOLUME_SIZE|ReadWriteOnce"
  "stonks-pipeline-backups|backups|stonks-gate|pipeline-backups|BACKUPS_VOLUME_SIZE|ReadWriteMany"
  "stonks-pipeline-argocd|argocd|argocd|argocd-data|ARGOCD_VOLUME_SIZE|ReadWriteMany"
  "stonks-pipeline-kargo|kargo|kargo|kargo-data|KARGO_VOLUME_SIZE|ReadWriteMany"
  "stonks-pipeline-arc|arc|arc-runners|arc-data|ARC_VOLUME_SIZE|ReadWriteMany"
)
readonly BACKUPS_CLAIM=pipeline-backups
readonly GATE_CLAIM=gate-data
readonly NFS_SUBDIRS=(argocd kargo arc gate backups)
readonly GATE_CALLER_SA=gate-caller
readonly GATE_CI_SA=gate-ci
# Where runmelast.sh leaves the commit each Argo CD Application was pinned to when it removes the
# Applications, and where runmefirst.sh finds it when it creates them again (then removes it).
readonly APP_PINS_CONFIGMAP=stonks-pipeline-app-pins
# Where runmefirst.sh records, once its init Job has completed, which NFS directories it made
# (server, path, subdirectories): the volumes existing says nothing about them.
readonly NFS_DIRS_CONFIGMAP=stonks-pipeline-nfs-dirs
readonly PART_OF_LABEL_YAML="app.kubernetes.io/part-of: stonks-pipeline"

# render_namespaces — the pipeline's namespaces. The gate's runs at the `restricted` Pod
# Security level; the Kargo project's namespace carries the label Kargo needs to adopt it.
render_namespaces() {
  local ns
  for ns in "$NS_ARC_SYSTEMS" "$NS_ARC_RUNNERS" "$NS_ARGOCD" "$NS_ROLLOUTS" "$NS_KARGO"; do
    cat <<EOF
---
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
  labels:
    $PART_OF_LABEL_YAML
EOF
  done
  cat <<EOF
---
apiVersion: v1
kind: Namespace
metadata:
  name: $NS_GATE
  labels:
    $PART_OF_LABEL_YAML
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
    pod-security.kubernetes.io/warn: restricted
---
apiVersion: v1
kind: Namespace
metadata:
  name: $NS_PROJECT
  labels:
    $PART_OF_LABEL_YAML
    kargo.akuity.io/project: "true"
  annotations:
    kargo.akuity.io/keep-namespace: "true"
EOF
}
# render_volume ENTRY — a Retain NFS PersistentVolume pre-bound to its claim, and the claim.
render_volume() {
  local pv subdir ns claim sizevar mode size
  IFS='|' read -r pv subdir ns claim sizevar mode <<<"$1"
  size=${!sizevar}
  local opts="" item list
  IFS=',' read -r -a list <<<"$NFS_MOUNT_OPTIONS"
  for item in "${list[@]}"; do opts+="    - $item"$'\n'; done
  cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $pv
  labels:
    $PART_OF_LABEL_YAML
    stonks-pipeline/volume: $subdir
spec:
  capacity:
    storage: $size
  accessModes: [$mode]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  volumeMode: Filesystem
  mountOptions:
${opts%$'\n'}
  nfs:
    server: $NFS_SERVER
    path: $NFS_PATH/$subdir
  claimRef:
    apiVersion: v1
    kind: PersistentVolumeClaim
    namespace: $ns
    name: $claim
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: $claim
  namespace: $ns
  labels:
    $PART_OF_LABEL_YAML
    stonks-pipeline/volume: $subdir
spec:
  accessModes: [$mode]
  storageClassName: ""
  volumeName: $pv
  resources:
    requests:
      storage: $size
EOF
}

# render_nfs_init_job — a one-off Job that creates the subdirectories on the export and hands
# gate/ and backups/ to uid 10001 (the gate and the snapshot writer).
render_nfs_init_job() {
  cat <<EOF
apiVersion: batch/v1
kind: Job
metadata:
  name: stonks-pipeline-nfs-init
  namespace: $NS_KARGO
  labels:
    $PART_OF_LABEL_YAML
spec:
  backoffLimit: 2
  ttlSecondsAfterFinished: 600
  template:
    metadata:
      labels:
        $PART_OF_LABEL_YAML
    spec:
      restartPolicy: Never
      containers:
        - name: init
          image: $HELPER_IMAGE
          command:
            - sh
            - -c
            - >-
              set -e; cd /export;
              mkdir -p ${NFS_SUBDIRS[*]};
              chown 10001:10001 gate backups;
              chmod 0770 gate backups;
              ls -ln /export
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop: [ALL]
              add: [CHOWN, DAC_OVERRIDE, FOWNER]
          volumeMounts:
            - name: export
              mountPath: /export
      volumes:
        - name: export
          nfs:
            server: $NFS_SERVER
            path: $NFS_PATH
EOF
}

# render_accounts — the identities the gate trusts: gate-caller in the project namespace (Kargo's
# gate step presents its token) and gate-ci in the runners' namespace, the ServiceAccount of the
# reporter scale set's pods only (the report job posts test results with its token).
render_accounts() {
  cat <<EOF
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: $GATE_CALLER_SA
  namespace: $NS_PROJECT
  labels:
    $PART_OF_LABEL_YAML
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: $GATE_CI_SA
  namespace: $NS_ARC_RUNNERS
  labels:
    $PART_OF_LABEL_YAML
EOF
}

# render_gate_caller_secret — a long-lived token of the gate-caller ServiceAccount, under key
# `token`, labelled so Kargo's secret() function may read it.
render_gate_caller_secret() {
  cat <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: $GATE_CALLER_SECRET
  namespace: $NS_PROJECT
  labels:
    $PART_OF_LABEL_YAML
    kargo.akuity.io/cred-type: generic
  annotations:
    kubernetes.io/service-account.name: $GATE_CALLER_SA
type: kubernetes.io/service-account-token
EOF
}

# render_nfs_dirs_made WHAT — the record that the init Job made the NFS directories WHAT
# ("server:path subdir..."), in the namespace the Job runs in.
render_nfs_dirs_made() {
  cat <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: $NFS_DIRS_CONFIGMAP
  namespace: $NS_KARGO
  labels:
    $PART_OF_LABEL_YAML
data:
  made: "$1"
EOF
}

# render_app_pins LINES — the ConfigMap of pinned commits: LINES are "<application> <sha>" lines.
render_app_pins() {
  cat <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: $APP_PINS_CONFIGMAP
  namespace: $NS_ARGOCD
  labels:
    $PART_OF_LABEL_YAML
data:
  pins: |
$(sed '/^$/d; s/^/    /' <<<"$1")
EOF
}

# render_backup_writer POD — a pod that mounts the backups claim, so a snapshot can be streamed
# onto the NFS volume with tar. It passes the `restricted` Pod Security level of stonks-gate.
render_backup_writer() {
  cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: $NS_GATE
  labels:
    $PART_OF_LABEL_YAML
    app.kubernetes.io/name: snapshot-writer
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: writer
      image: $HELPER_IMAGE
      command: [sh, -c, "sleep 3600"]
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: [ALL]
      volumeMounts:
        - name: backups
          mountPath: /backups
  volumes:
    - name: backups
      persistentVolumeClaim:
        claimName: $BACKUPS_CLAIM
EOF
}
