{{/* Environment of every collector container (serve, worker, beat). */}}
{{- define "aks-netaudit.collectorEnv" -}}
- name: NETAUDIT_CONFIG
  value: /etc/netaudit/config/netaudit.yaml
- name: NETAUDIT_STORE__URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.collector.store.existingSecret }}
      key: {{ .Values.collector.store.key }}
{{- if not .Values.redis.enabled }}
- name: NETAUDIT_BROKER__URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.collector.broker.existingSecret }}
      key: {{ .Values.collector.broker.key }}
{{- end }}
- name: HOME
  value: /tmp
{{- with .Values.collector.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Mounts of every collector container: the config, a writable state dir and /tmp. */}}
{{- define "aks-netaudit.collectorMounts" -}}
- name: config
  mountPath: /etc/netaudit/config
  readOnly: true
- name: state
  mountPath: /var/lib/netaudit
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "aks-netaudit.collectorVolumes" -}}
- name: config
  configMap:
    name: {{ include "aks-netaudit.componentName" (list . "collector") }}
- name: state
  emptyDir:
    sizeLimit: 64Mi
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{/* Pod-level settings shared by the collector's Deployments. */}}
{{- define "aks-netaudit.collectorPodSpec" -}}
serviceAccountName: {{ include "aks-netaudit.collectorServiceAccount" . }}
automountServiceAccountToken: false
securityContext:
  {{- include "aks-netaudit.podSecurityContext" . | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .Values.collector.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.collector.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.collector.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod labels of the collector's pods: workload identity's opt-in label when enabled. */}}
{{- define "aks-netaudit.collectorPodLabels" -}}
{{- if .Values.collector.azure.workloadIdentity.enabled }}
azure.workload.identity/use: "true"
{{- end }}
{{- end }}
