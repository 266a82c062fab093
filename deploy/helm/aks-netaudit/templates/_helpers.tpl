{{/* Chart name, cut to 63 characters (a label value's limit). */}}
{{- define "aks-netaudit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object name prefix: RELEASE-aks-netaudit, or RELEASE when it contains the chart name. */}}
{{- define "aks-netaudit.fullname" -}}
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

{{/* A component's object name: fullname-COMPONENT. Call with (list $ "component"). */}}
{{- define "aks-netaudit.componentName" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "aks-netaudit.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: only the stable ones (selectors are immutable). Call with (list $ "component"). */}}
{{- define "aks-netaudit.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "aks-netaudit.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* The Kubernetes recommended labels. Call with (list $ "component"). */}}
{{- define "aks-netaudit.labels" -}}
{{- $root := index . 0 -}}
{{ include "aks-netaudit.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: aks-netaudit
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* An image reference. Call with (list $ .Values.image.collector). */}}
{{- define "aks-netaudit.image" -}}
{{- $root := index . 0 }}
{{- $image := index . 1 }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}

{{/* Pod security context of every pod: non-root, RuntimeDefault seccomp. */}}
{{- define "aks-netaudit.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurity.runAsUser }}
runAsGroup: {{ .Values.podSecurity.runAsGroup }}
fsGroup: {{ .Values.podSecurity.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container security context of every container. */}}
{{- define "aks-netaudit.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Names of Secrets whose default follows the release. */}}
{{- define "aks-netaudit.collectorTlsSecret" -}}
{{- default (include "aks-netaudit.componentName" (list . "collector-tls")) .Values.collector.ingest.tls.secretName }}
{{- end }}
{{- define "aks-netaudit.collectorCaSecret" -}}
{{- default (include "aks-netaudit.componentName" (list . "collector-ca")) .Values.agent.collector.caSecret.name }}
{{- end }}
{{- define "aks-netaudit.agentTokenSecret" -}}
{{- default (include "aks-netaudit.componentName" (list . "agent-token")) .Values.agent.auth.token.secretName }}
{{- end }}
{{- define "aks-netaudit.agentTlsSecret" -}}
{{- default (include "aks-netaudit.componentName" (list . "agent-tls")) .Values.agent.auth.clientCertificate.secretName }}
{{- end }}

{{/* The collector's Service name, which agents in this release dial. */}}
{{- define "aks-netaudit.collectorService" -}}
{{- include "aks-netaudit.componentName" (list . "collector") }}
{{- end }}

{{/* The collector's ServiceAccount (serve, worker, beat and the migration hook). */}}
{{- define "aks-netaudit.collectorServiceAccount" -}}
{{- include "aks-netaudit.componentName" (list . "collector") }}
{{- end }}

{{/* The agent's collector HOST:PORT. */}}
{{- define "aks-netaudit.agentCollectorAddress" -}}
{{- if .Values.agent.collector.address }}
{{- .Values.agent.collector.address }}
{{- else }}
{{- printf "%s.%s.svc:%d" (include "aks-netaudit.collectorService" .) .Release.Namespace (int .Values.collector.ingest.port) }}
{{- end }}
{{- end }}

{{/* The agent's cluster name: agent.clusterName or the last segment of its ARM id. */}}
{{- define "aks-netaudit.agentClusterName" -}}
{{- default (.Values.agent.clusterId | trimSuffix "/" | splitList "/" | last) .Values.agent.clusterName }}
{{- end }}
