{{/* Chart name, truncated to 63 characters. */}}
{{- define "goray-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, with the chart name unless it contains it. */}}
{{- define "goray-operator.fullname" -}}
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

{{- define "goray-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "goray-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "goray-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "goray-operator.labels" -}}
helm.sh/chart: {{ include "goray-operator.chart" . }}
{{ include "goray-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: goray
{{- end }}

{{- define "goray-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "goray-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* watchNamespace as a comma-separated string (it may be given as a list). */}}
{{- define "goray-operator.watchNamespace" -}}
{{- if kindIs "slice" .Values.watchNamespace }}
{{- join "," .Values.watchNamespace }}
{{- else }}
{{- .Values.watchNamespace | toString }}
{{- end }}
{{- end }}
