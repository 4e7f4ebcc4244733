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

{{/*
"true" when . is a yyyy-MM-dd date that exists, in 2000-2099 (every year divisible by 4 is a leap
year there, 2000 included), else "". By arithmetic, not toDate: toDate parses in the local time
zone of whoever runs helm, where a midnight skipped by a DST change (Havana, Santiago...) comes
back as the day before, and the real date was refused.
*/}}
{{- define "gate.isRealDate" -}}
{{- if and (kindIs "string" .) (regexMatch "^20[0-9]{2}-[0-9]{2}-[0-9]{2}$" .) -}}
{{- $p := splitList "-" . -}}
{{- $y := index $p 0 | atoi -}}
{{- $m := index $p 1 | atoi -}}
{{- $d := index $p 2 | atoi -}}
{{- $days := list 31 (ternary 29 28 (eq (mod $y 4) 0)) 31 30 31 30 31 31 30 31 30 31 -}}
{{- if and (ge $m 1) (le $m 12) (ge $d 1) -}}
{{- if le $d (index $days (sub $m 1)) -}}true{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
What the gate's own config check refuses at start and the schema cannot express (a real calendar
date, the default grant lifetime within the maximum, one close time per early-close date). The
Deployment is Recreate: a config the gate refuses would stop the running gate and start none, so
the chart refuses it instead.
*/}}
{{- define "gate.checkConfig" -}}
{{- $bg := .Values.config.breakGlass | default dict -}}
{{- $default := int (ternary $bg.defaultTtlMinutes 30 (hasKey $bg "defaultTtlMinutes")) -}}
{{- $max := int (ternary $bg.maxTtlMinutes 240 (hasKey $bg "maxTtlMinutes")) -}}
{{- if gt $default $max -}}
{{- fail (printf "config.breakGlass.defaultTtlMinutes (%d) must not exceed config.breakGlass.maxTtlMinutes (%d): the gate refuses to start" $default $max) -}}
{{- end -}}
{{- $market := .Values.config.market | default dict -}}
{{- range $i, $c := ($market.extraClosures | default list) -}}
{{- $date := kindIs "string" $c | ternary $c (get (kindIs "map" $c | ternary $c dict) "date") -}}
{{- if not (include "gate.isRealDate" $date) -}}
{{- fail (printf "config.market.extraClosures[%d]: %q is not a real date: the gate refuses to start" $i $date) -}}
{{- end -}}
{{- end -}}
{{- $closes := dict -}}
{{- range $i, $e := ($market.extraEarlyCloses | default list) -}}
{{- if not (include "gate.isRealDate" $e.date) -}}
{{- fail (printf "config.market.extraEarlyCloses[%d]: %q is not a real date: the gate refuses to start" $i $e.date) -}}
{{- end -}}
{{- if and (hasKey $closes $e.date) (ne (get $closes $e.date) $e.close) -}}
{{- fail (printf "config.market.extraEarlyCloses[%d]: %s closes at %s, but an earlier entry closes it at %s: the gate refuses to start" $i $e.date $e.close (get $closes $e.date)) -}}
{{- end -}}
{{- $_ := set $closes $e.date $e.close -}}
{{- end -}}
{{- end -}}
