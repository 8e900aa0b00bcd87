{{/* Release full name, at most 63 characters. */}}
{{- define "recording-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "recording-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "recording-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "recording-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: recording-operator
{{- end -}}

{{- define "recording-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "recording-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* registry/repository:tag or registry/repository@digest; call with (list image appVersion). */}}
{{- define "recording-operator.imageRef" -}}
{{- $image := index . 0 -}}
{{- $ref := printf "%s/%s" $image.registry $image.repository -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $ref $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (default (index . 1) $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Argo CD sync wave annotation (one line) when argocd.syncWaves; call with (list . wave). */}}
{{- define "recording-operator.syncWave" -}}
{{- if (index . 0).Values.argocd.syncWaves -}}
argocd.argoproj.io/sync-wave: {{ index . 1 | quote }}
{{- end -}}
{{- end -}}

{{/* Namespaces that get a recorder NetworkPolicy. */}}
{{- define "recording-operator.recorderPolicyNamespaces" -}}
{{- $ns := .Values.networkPolicy.recorder.namespaces | default .Values.watchNamespaces -}}
{{- toJson (default (list .Release.Namespace) $ns) -}}
{{- end -}}

{{/* RBAC rules on namespaced resources: in the ClusterRole (cluster-wide) or a Role per watched namespace. */}}
{{- define "recording-operator.resourceRules" -}}
# Our kinds: the operator watches and patches them (never writes spec), and creates RecordedFiles.
- apiGroups: [recording.mediaops.io]
  resources: [cloudrecordings, cloudtranscoders, localrecordings]
  verbs: [get, list, watch, patch, update]
- apiGroups: [recording.mediaops.io]
  resources: [recordedfiles]
  verbs: [get, list, watch, patch, update, create, delete]
- apiGroups: [recording.mediaops.io]
  resources: [cloudrecordings/status, cloudtranscoders/status, localrecordings/status, recordedfiles/status]
  verbs: [get, patch, update]
# Recorder Pods of LocalRecordings, their Services, ConfigMaps, work volume claims and Jobs.
- apiGroups: [""]
  resources: [pods, services, configmaps, persistentvolumeclaims]
  verbs: [get, list, watch, create, delete, patch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete, patch]
# Credentials named by secretRefs, read one by one; list/watch so that a changed Secret re-reconciles
# the resources that failed with it (the operator keeps only names in memory, never values); create:
# the per-recording Secret with the recorder agent's token.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create]
# Events are counted as series: a repeat reads (get) and patches the existing Event.
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [get, create, patch]
{{- end -}}


{{/*
Secrets the callback receiver mounts, as JSON {volumeName: {secret, path}} (empty when callbacks are off).
*/}}
{{- define "recording-operator.callbackSecrets" -}}
{{- $c := .Values.callbacks -}}
{{- $mounts := dict -}}
{{- if $c.enabled -}}
{{- with $c.agora.ncsSecretName }}{{ $_ := set $mounts "ncs-secrets" (dict "secret" . "path" "/etc/recording-operator/ncs") }}{{ end -}}
{{- with $c.realtimeKit.publicKeySecretName }}{{ $_ := set $mounts "realtimekit-key" (dict "secret" . "path" "/etc/recording-operator/realtimekit-key") }}{{ end -}}
{{- $w := $c.realtimeKit.webhook -}}
{{- if and $w.accountId $w.appId $w.tokenSecretName }}{{ $_ := set $mounts "realtimekit-token" (dict "secret" $w.tokenSecretName "path" "/etc/recording-operator/realtimekit-token") }}{{ end -}}
{{- with $c.tls.secretName }}{{ $_ := set $mounts "callbacks-tls" (dict "secret" . "path" "/etc/recording-operator/tls") }}{{ end -}}
{{- end -}}
{{- toJson $mounts -}}
{{- end -}}
