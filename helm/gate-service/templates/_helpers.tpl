{{/* Name of every object: the release name unless overridden (the release is `gate-service`). */}}
{{- define "gate.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gate.labels" -}}
app.kubernetes.io/name: gate-service
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stonks-pipeline
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gate.selectorLabels" -}}
app.kubernetes.io/name: gate-service
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gate.serviceAccountName" -}}
{{- default (include "gate.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "gate.claimName" -}}
{{- if .Values.persistence.existingClaim -}}
{{- .Values.persistence.existingClaim -}}
{{- else -}}
{{- printf "%s-data" (include "gate.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "gate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The virtual permissions of each gate role (API group gate.stonks-oracle.io). */}}
{{- define "gate.roleRules" -}}
caller:
  - { resources: [decisions], verbs: [create] }
operator:
  - { resources: [breakglassgrants], verbs: [create, delete] }
approver:
  - { resources: [approvals], verbs: [create] }
ci:
  - { resources: [testresults], verbs: [update] }
admin:
  - { resources: [decisions], verbs: [create] }
  - { resources: [breakglassgrants], verbs: [create, delete] }
  - { resources: [approvals], verbs: [create] }
  - { resources: [stagetoggles], verbs: [update] }
  - { resources: [testresults], verbs: [update] }
{{- end -}}
