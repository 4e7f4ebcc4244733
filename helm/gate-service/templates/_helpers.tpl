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
  - { resources: [auditrecords], verbs: [get] }
approver:
  - { resources: [approvals], verbs: [create, delete] }
  - { resources: [auditrecords], verbs: [get] }
ci:
  - { resources: [testresults], verbs: [update] }
auditor:
  - { resources: [auditrecords], verbs: [get] }
admin:
  - { resources: [decisions], verbs: [create] }
  - { resources: [breakglassgrants], verbs: [create, delete] }
  - { resources: [approvals], verbs: [create, delete] }
  - { resources: [stagetoggles], verbs: [update] }
  - { resources: [testresults], verbs: [update] }
  - { resources: [auditrecords], verbs: [get] }
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
"true" when . is an address or CIDR the gate's parseCidrs takes (Node's isIP, a prefix of at most
32 or 128 bits), else "". The schema's pattern only keeps out other characters: "10.0.0.0/33" or
"999.1.1.1" passed it, and the gate refused to start.
*/}}
{{- define "gate.isCidr" -}}
{{- $v4seg := "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])" -}}
{{- $v4 := printf "(?:%s\\.){3}%s" $v4seg $v4seg -}}
{{- $s := "(?:[0-9a-fA-F]{1,4})" -}}
{{- $v6 := printf "^(?:(?:%[1]s:){7}(?:%[1]s|:)|(?:%[1]s:){6}(?:%[2]s|:%[1]s|:)|(?:%[1]s:){5}(?::%[2]s|(?::%[1]s){1,2}|:)|(?:%[1]s:){4}(?:(?::%[1]s){0,1}:%[2]s|(?::%[1]s){1,3}|:)|(?:%[1]s:){3}(?:(?::%[1]s){0,2}:%[2]s|(?::%[1]s){1,4}|:)|(?:%[1]s:){2}(?:(?::%[1]s){0,3}:%[2]s|(?::%[1]s){1,5}|:)|(?:%[1]s:){1}(?:(?::%[1]s){0,4}:%[2]s|(?::%[1]s){1,6}|:)|(?::(?:(?::%[1]s){0,5}:%[2]s|(?::%[1]s){1,7}|:)))$" $s $v4 -}}
{{- if kindIs "string" . -}}
{{- $p := splitList "/" . -}}
{{- $addr := index $p 0 -}}
{{- $max := 0 -}}
{{- if regexMatch (printf "^%s$" $v4) $addr -}}{{- $max = 32 -}}{{- else if regexMatch $v6 $addr -}}{{- $max = 128 -}}{{- end -}}
{{- if and $max (le (len $p) 2) -}}
{{- if eq (len $p) 1 -}}true
{{- else if and (regexMatch "^[0-9]{1,3}$" (index $p 1)) (le (atoi (index $p 1)) $max) -}}true
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"true" when name . is blank to the gate (JavaScript's trim: Unicode white space and U+FEFF, but not
U+0085), else "". The schema's "\S" is ASCII only: a name of U+00A0 or U+000B passed it, and the
gate refused to start.
*/}}
{{- define "gate.isBlankName" -}}
{{- if eq (replace "\u0085" "x" (replace "\ufeff" "" .) | trim) "" -}}true{{- end -}}
{{- end -}}

{{/*
What the gate's own config check refuses at start and the schema cannot express (a real calendar
date, the default grant lifetime within the maximum, one close time per early-close date). The
Deployment is Recreate: a config the gate refuses would stop the running gate and start none, so
the chart refuses it instead.
*/}}
{{- define "gate.checkConfig" -}}
{{- if hasKey (.Values.podAnnotations | default dict) "checksum/config" -}}
{{- fail "podAnnotations: \"checksum/config\" is the chart's own annotation (a config change rolls the pod by it): a second value would render a duplicate key, and a config change might not restart the gate" -}}
{{- end -}}
{{- range $key, $_ := .Values.podLabels -}}
{{- if has $key (list "app.kubernetes.io/name" "app.kubernetes.io/instance") -}}
{{- fail (printf "podLabels: %q is a label of the Deployment's selector, which the chart sets: a second value would render a duplicate key, and pods the selector no longer matches" $key) -}}
{{- end -}}
{{- end -}}
{{- /* a key the chart sets on the object itself would render twice (a duplicate YAML key) */ -}}
{{- if .Values.ingress.enabled -}}
{{- $chartAnnotations := dict "cert-manager.io/cluster-issuer" "set by ingress.clusterIssuer" "traefik.ingress.kubernetes.io/router.entrypoints" "websecure, fixed" "traefik.ingress.kubernetes.io/router.tls" "\"true\", fixed: the Ingress serves TLS only" -}}
{{- range $key, $_ := .Values.ingress.annotations -}}
{{- if hasKey $chartAnnotations $key -}}
{{- fail (printf "ingress.annotations: %q is the chart's own annotation (%s): a second value would render a duplicate key" $key (get $chartAnnotations $key)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $chartLabels := include "gate.labels" . | fromYaml | keys -}}
{{- range $values := list "serviceMonitor" "prometheusRule" -}}
{{- $v := get $.Values $values -}}
{{- if $v.enabled -}}
{{- range $key, $_ := $v.labels -}}
{{- if has $key $chartLabels -}}
{{- fail (printf "%s.labels: %q is a label the chart sets on every object: a second value would render a duplicate key" $values $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* the kubelet keeps the last of two variables of one name: an entry of extraEnv would silently replace the chart's own */ -}}
{{- $chartEnv := dict "GATE_HOST" "0.0.0.0, fixed" "GATE_PORT" "8080, fixed: the container port the probes, the Service and the NetworkPolicy use" "GATE_DATA_DIR" "/data, fixed: the volume; anywhere else the audit log goes to the pod's /tmp, lost with the pod, or to the read-only root filesystem" "GATE_CONFIG" "/etc/gate/config.yaml, fixed: the file rendered from config" "GATE_AUTH" "gate.auth, which also decides the RBAC objects and the token mount" "GATE_FIRST_START_TOKENS" "file, fixed: tokens stay out of the pod log" "GATE_LOG_LEVEL" "gate.logLevel" "GATE_NOW" "gate.now, which the chart checks" "GATE_PROJECT" "config.project, the namespace of the chart's Role and RoleBindings" -}}
{{- range $i, $e := (.Values.gate.extraEnv | default list) -}}
{{- if hasKey $chartEnv $e.name -}}
{{- fail (printf "gate.extraEnv[%d]: %s is the chart's own (%s): a second entry would replace it, unchecked" $i $e.name (get $chartEnv $e.name)) -}}
{{- end -}}
{{- end -}}
{{- with .Values.gate.now -}}
{{- $day := substr 0 10 . -}}
{{- if not (include "gate.isRealDate" $day) -}}
{{- fail (printf "gate.now: %q: %s is not a real date: the gate refuses to start" . $day) -}}
{{- end -}}
{{- /* with any offset (up to ±23:59) these days stay inside the New York dates the gate's calendar answers for, next session included */ -}}
{{- if or (lt $day "2000-01-03") (gt $day "2099-12-30") -}}
{{- fail (printf "gate.now: %q: must fall between 2000-01-03 and 2099-12-30 (the gate's market calendar covers 2000-2099; the chart keeps a margin at each end, so that no offset can carry the instant out of it)" .) -}}
{{- end -}}
{{- end -}}
{{- $bg := .Values.config.breakGlass | default dict -}}
{{- $default := int (ternary $bg.defaultTtlMinutes 30 (hasKey $bg "defaultTtlMinutes")) -}}
{{- $max := int (ternary $bg.maxTtlMinutes 240 (hasKey $bg "maxTtlMinutes")) -}}
{{- if gt $default $max -}}
{{- fail (printf "config.breakGlass.defaultTtlMinutes (%d) must not exceed config.breakGlass.maxTtlMinutes (%d): the gate refuses to start" $default $max) -}}
{{- end -}}
{{- $market := .Values.config.market | default dict -}}
{{- range $i, $c := ($market.extraClosures | default list) -}}
{{- $date := kindIs "string" $c | ternary $c (get (kindIs "map" $c | ternary $c dict) "date") -}}
{{- if and (kindIs "map" $c) (hasKey $c "name") (include "gate.isBlankName" (get $c "name")) -}}
{{- fail (printf "config.market.extraClosures[%d]: the name is blank: the gate refuses to start" $i) -}}
{{- end -}}
{{- if not (include "gate.isRealDate" $date) -}}
{{- fail (printf "config.market.extraClosures[%d]: %q is not a real date: the gate refuses to start" $i $date) -}}
{{- end -}}
{{- end -}}
{{- $closed := dict -}}
{{- range $c := ($market.extraClosures | default list) -}}
{{- $_ := set $closed (kindIs "string" $c | ternary $c (get (kindIs "map" $c | ternary $c dict) "date")) true -}}
{{- end -}}
{{- range $i, $c := ($market.extraSessions | default list) -}}
{{- $date := kindIs "string" $c | ternary $c (get (kindIs "map" $c | ternary $c dict) "date") -}}
{{- if and (kindIs "map" $c) (hasKey $c "name") (include "gate.isBlankName" (get $c "name")) -}}
{{- fail (printf "config.market.extraSessions[%d]: the name is blank: the gate refuses to start" $i) -}}
{{- end -}}
{{- if not (include "gate.isRealDate" $date) -}}
{{- fail (printf "config.market.extraSessions[%d]: %q is not a real date: the gate refuses to start" $i $date) -}}
{{- end -}}
{{- if hasKey $closed $date -}}
{{- fail (printf "config.market.extraSessions[%d]: %s is also an extra closure (a day cannot be both closed and open): the gate refuses to start" $i $date) -}}
{{- end -}}
{{- end -}}
{{- $closes := dict -}}
{{- range $i, $e := ($market.extraEarlyCloses | default list) -}}
{{- if not (include "gate.isRealDate" $e.date) -}}
{{- fail (printf "config.market.extraEarlyCloses[%d]: %q is not a real date: the gate refuses to start" $i $e.date) -}}
{{- end -}}
{{- if and (hasKey $e "name") (include "gate.isBlankName" $e.name) -}}
{{- fail (printf "config.market.extraEarlyCloses[%d]: the name is blank: the gate refuses to start" $i) -}}
{{- end -}}
{{- if and (hasKey $closes $e.date) (ne (get $closes $e.date) $e.close) -}}
{{- fail (printf "config.market.extraEarlyCloses[%d]: %s closes at %s, but an earlier entry closes it at %s: the gate refuses to start" $i $e.date $e.close (get $closes $e.date)) -}}
{{- end -}}
{{- $_ := set $closes $e.date $e.close -}}
{{- end -}}
{{- $proxyAuth := .Values.config.proxyAuth | default dict -}}
{{- $secretHeader := lower ($proxyAuth.secretHeader | default "X-Gate-Proxy-Secret") -}}
{{- range $key := list "userHeader" "groupsHeader" -}}
{{- if eq $secretHeader (lower (get $proxyAuth $key | default (eq $key "userHeader" | ternary "X-Auth-Request-User" "X-Auth-Request-Groups"))) -}}
{{- fail (printf "config.proxyAuth.secretHeader: must not be the same header as config.proxyAuth.%s (the secret would be read as the %s): the gate refuses to start" $key (eq $key "userHeader" | ternary "user name" "groups")) -}}
{{- end -}}
{{- end -}}
{{- range $key, $list := dict "http.trustedProxies" ((.Values.config.http | default dict).trustedProxies | default list) "proxyAuth.trustedCidrs" ((.Values.config.proxyAuth | default dict).trustedCidrs | default list) -}}
{{- range $i, $c := $list -}}
{{- if not (include "gate.isCidr" $c) -}}
{{- fail (printf "config.%s[%d]: %q is not an IPv4 or IPv6 address or CIDR: the gate refuses to start" $key $i $c) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
