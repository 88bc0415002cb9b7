{{- define "memmesh.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "memmesh.headless" -}}
{{- printf "%s-headless" (include "memmesh.fullname" .) -}}
{{- end -}}

{{- define "memmesh.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "memmesh.labels" -}}
{{ include "memmesh.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "memmesh.secretName" -}}
{{- default (printf "%s-auth" (include "memmesh.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* The stable address of pod <i>: <fullname>-<i>.<headless>.<namespace>.svc.<domain>:7070 */}}
{{- define "memmesh.podAddress" -}}
{{- printf "%s-%d.%s.%s.svc.%s:7070" (include "memmesh.fullname" .root) (int .ordinal) (include "memmesh.headless" .root) .root.Release.Namespace .root.Values.clusterDomain -}}
{{- end -}}

{{- define "memmesh.config" -}}
{{- $base := dict "metrics" (dict "listen" (printf "0.0.0.0:%d" (int .Values.metrics.port))) -}}
{{- if .Values.tls.enabled -}}
{{- $_ := set $base "tls" (dict "cert" "/etc/memmesh/tls/tls.crt" "key" "/etc/memmesh/tls/tls.key" "ca" "/etc/memmesh/tls/ca.crt" "require_client_cert" .Values.tls.requireClientCert) -}}
{{- end -}}
{{- mustMergeOverwrite $base (deepCopy .Values.config) | toPrettyJson -}}
{{- end -}}
