{{- define "ray-cluster.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The RayCluster's name: short, since pod and Service names derive from it. */}}
{{- define "ray-cluster.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ray-cluster.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "ray-cluster.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: goray
{{- end }}

{{- define "ray-cluster.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* rayStartParams: a map of strings (KubeRay's type). */}}
{{- define "ray-cluster.rayStartParams" -}}
{{- if . }}
{{- range $k, $v := . }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- else }}
{}
{{- end }}
{{- end }}

{{/*
Pod template of a group. Called with dict "root" $ "group" <values> "container" <name>.
*/}}
{{- define "ray-cluster.podTemplate" -}}
{{- $root := .root }}
{{- $g := .group }}
metadata:
  labels:
    {{- include "ray-cluster.labels" $root | nindent 4 }}
    {{- with $g.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $g.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $g.serviceAccountName }}
  serviceAccountName: {{ . }}
  {{- end }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $g.podSecurityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
  - name: {{ .container }}
    image: {{ include "ray-cluster.image" $root }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    {{- with $g.env }}
    env:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $g.envFrom }}
    envFrom:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $g.ports }}
    ports:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $g.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $g.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $g.volumeMounts }}
    volumeMounts:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  {{- with $g.volumes }}
  volumes:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $g.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $g.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $g.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* One workerGroupSpecs entry. Called with dict "root" $ "name" <group> "group" <values>. */}}
{{- define "ray-cluster.workerGroup" -}}
{{- $g := .group }}
{{- if gt (int $g.minReplicas) (int $g.maxReplicas) }}
{{- fail (printf "worker group %s: minReplicas %v > maxReplicas %v" .name $g.minReplicas $g.maxReplicas) }}
{{- end }}
- groupName: {{ .name }}
  replicas: {{ $g.replicas }}
  minReplicas: {{ $g.minReplicas }}
  maxReplicas: {{ $g.maxReplicas }}
  {{- if not (kindIs "invalid" $g.idleTimeoutSeconds) }}
  idleTimeoutSeconds: {{ $g.idleTimeoutSeconds }}
  {{- end }}
  rayStartParams:
    {{- include "ray-cluster.rayStartParams" $g.rayStartParams | trim | nindent 4 }}
  template:
    {{- include "ray-cluster.podTemplate" (dict "root" .root "group" $g "container" "ray-worker") | trim | nindent 4 }}
{{- end }}
