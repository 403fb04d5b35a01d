{{/*
Names and labels, as `helm create` and the Scalar charts define them. Kubernetes names are at most 63
characters (DNS labels); a CronJob's at most 52, since the Jobs it creates append an 11-character suffix.
*/}}
{{- define "stillpoint.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* fullname: fullnameOverride, else the release name when it contains the chart name, else <release>-<chart>. */}}
{{- define "stillpoint.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "stillpoint.cronJobName" -}}
{{- include "stillpoint.fullname" . | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "stillpoint.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "stillpoint.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stillpoint.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "stillpoint.labels" -}}
helm.sh/chart: {{ include "stillpoint.chart" . }}
{{ include "stillpoint.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The claim holding /data (catalog and artifacts). Refuses to render without one: an emptyDir loses every backup's record with the pod. */}}
{{- define "stillpoint.dataClaim" -}}
{{- if .Values.persistence.existingClaim }}
{{- .Values.persistence.existingClaim }}
{{- else if .Values.persistence.create }}
{{- printf "%s-data" (include "stillpoint.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- fail "persistence: set persistence.existingClaim or persistence.create=true — the catalog and the artifacts live under /data, and an emptyDir would lose every backup's record with the pod" }}
{{- end }}
{{- end }}
