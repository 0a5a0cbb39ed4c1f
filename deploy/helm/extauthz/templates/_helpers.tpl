{{/* Name of the chart, or nameOverride. */}}
{{- define "extauthz.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified name: the release name when it contains the chart name. */}}
{{- define "extauthz.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object but the component. */}}
{{- define "extauthz.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "extauthz.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: extauthz
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels of the server's objects. */}}
{{- define "extauthz.labels" -}}
{{ include "extauthz.commonLabels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{/*
Labels that select the server pods. Selectors are immutable on a
Deployment: never add to them. Other objects' selectors (e.g. a
NetworkPolicy's peers) are the user's values, never these.
*/}}
{{- define "extauthz.selectorLabels" -}}
app.kubernetes.io/name: {{ include "extauthz.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "extauthz.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "extauthz.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "extauthz.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The configuration file: the user's config plus the keys the chart owns.
Refuses secrets and chart-owned keys in .Values.config.
*/}}
{{- define "extauthz.config" -}}
{{- $c := deepCopy (.Values.config | default dict) -}}
{{- range $k := list "grpc_addr" "http_addr" "check_addr" "shutdown_delay" "shutdown_timeout" -}}
{{- if hasKey $c $k -}}
{{- fail (printf "config.%s is set by the chart (ports.*, httpCheck.enabled, shutdown.*): remove it from config" $k) -}}
{{- end -}}
{{- end -}}
{{- if hasKey $c "database_url" -}}
{{- fail "config.database_url is a secret: put the URL in a Secret and name it in database.existingSecret" -}}
{{- end -}}
{{- if hasKey $c "admin_token" -}}
{{- fail "config.admin_token is a secret: set EXTAUTHZ_ADMIN_TOKEN with extraEnv and a secretKeyRef" -}}
{{- end -}}
{{- if and (hasKey $c "log") (hasKey (get $c "log" | default dict) "email_hash_key") -}}
{{- fail "config.log.email_hash_key is a secret: set EXTAUTHZ_LOG_EMAIL_HASH_KEY with extraEnv and a secretKeyRef" -}}
{{- end -}}
{{- if and (hasKey $c "grpc_server") (or (hasKey (get $c "grpc_server") "max_connection_age") (hasKey (get $c "grpc_server") "max_connection_age_grace")) -}}
{{- fail "config.grpc_server.max_connection_age(_grace) are set by the chart: use grpcServer.*" -}}
{{- end -}}
{{- range $app, $a := (get $c "apps" | default dict) -}}
{{- $ps := (get ($a | default dict) "profile_source") | default dict -}}
{{- $u := (get $ps "database_url") | default "" -}}
{{- if or (regexMatch "^[a-z]+://[^/@]*:[^/@]*@" $u) (regexMatch "(^|\\s)password=" $u) (regexMatch "[?&]password=" $u) -}}
{{- fail (printf "config.apps.%s.profile_source.database_url holds a password: drop it and put it in the pgpass file (pgpass.existingSecret)" $app) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $c "grpc_addr" (printf ":%d" (int .Values.ports.grpc)) -}}
{{- $_ := set $c "http_addr" (printf ":%d" (int .Values.ports.http)) -}}
{{- if .Values.httpCheck.enabled -}}
{{- $_ := set $c "check_addr" (printf ":%d" (int .Values.ports.check)) -}}
{{- end -}}
{{- $_ := set $c "shutdown_delay" (printf "%ds" (int .Values.shutdown.delaySeconds)) -}}
{{- $_ := set $c "shutdown_timeout" (printf "%ds" (int .Values.shutdown.timeoutSeconds)) -}}
{{- $gs := (get $c "grpc_server") | default dict -}}
{{- $_ := set $gs "max_connection_age" .Values.grpcServer.maxConnectionAge -}}
{{- $_ := set $gs "max_connection_age_grace" .Values.grpcServer.maxConnectionAgeGrace -}}
{{- $_ := set $c "grpc_server" $gs -}}
{{- toYaml $c -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: above preStop + delay + timeout. */}}
{{- define "extauthz.gracePeriod" -}}
{{- $s := .Values.shutdown -}}
{{- $need := add (int $s.preStopSleepSeconds) (int $s.delaySeconds) (int $s.timeoutSeconds) -}}
{{- if kindIs "invalid" $s.terminationGracePeriodSeconds -}}
{{- add $need 5 -}}
{{- else if le (int $s.terminationGracePeriodSeconds) (int $need) -}}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%d) must be above preStopSleepSeconds + delaySeconds + timeoutSeconds (%d)" (int $s.terminationGracePeriodSeconds) (int $need)) -}}
{{- else -}}
{{- int $s.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* envoy_timeout in seconds, for the p99 alert. */}}
{{- define "extauthz.envoyTimeoutSeconds" -}}
{{- $t := toString (default "200ms" (get (.Values.config | default dict) "envoy_timeout")) -}}
{{- if hasSuffix "ms" $t -}}
{{- divf (trimSuffix "ms" $t | float64) 1000 -}}
{{- else if hasSuffix "s" $t -}}
{{- trimSuffix "s" $t | float64 -}}
{{- else -}}
{{- fail (printf "config.envoy_timeout %q: use ms or s" $t) -}}
{{- end -}}
{{- end -}}
