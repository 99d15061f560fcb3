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

{{/* watchNamespace as a comma-separated string (it may be given as a list);
with singleNamespaceInstall and no watchNamespace, the release namespace. */}}
{{- define "goray-operator.watchNamespace" -}}
{{- $ns := "" }}
{{- if kindIs "slice" .Values.watchNamespace }}
{{- $ns = join "," .Values.watchNamespace }}
{{- else if .Values.watchNamespace }}
{{- $ns = .Values.watchNamespace | toString }}
{{- end }}
{{- if and (not $ns) .Values.singleNamespaceInstall }}
{{- $ns = .Release.Namespace }}
{{- end }}
{{- $ns }}
{{- end }}

{{/* "true" when RBAC objects are created: rbac.create and KubeRay's rbacEnable. */}}
{{- define "goray-operator.rbacEnabled" -}}
{{- if and .Values.rbac.create (ne (toString .Values.rbacEnable) "false") }}true{{ end }}
{{- end }}

{{/* "true" when the operator's rules go in Roles of the watched namespaces
instead of a ClusterRole: singleNamespaceInstall (KubeRay), or a
watchNamespace with crNamespacedRbacEnable. */}}
{{- define "goray-operator.namespacedRbac" -}}
{{- if or .Values.singleNamespaceInstall (and (include "goray-operator.watchNamespace" .) .Values.crNamespacedRbacEnable) }}true{{ end }}
{{- end }}

{{/* The operator's log file (logging.baseDir/fileName), empty when off. */}}
{{- define "goray-operator.logFile" -}}
{{- if and .Values.logging.baseDir .Values.logging.fileName }}
{{- printf "%s/%s" (trimSuffix "/" .Values.logging.baseDir) .Values.logging.fileName }}
{{- end }}
{{- end }}
