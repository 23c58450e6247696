{{/*
Name of the chart, or nameOverride. Kubernetes names stop at 63 characters.
*/}}
{{- define "vigil.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix for every object name. The release name alone when it already contains the chart
name, so `helm install vigil` gives "vigil", not "vigil-vigil".
*/}}
{{- define "vigil.fullname" -}}
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

{{/*
Labels on every object the chart renders.
*/}}
{{- define "vigil.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "vigil.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The subset that selects the operator Pods. Selectors are immutable, so nothing here may
change between chart versions (which is why the version label is not in it). The component
keeps it disjoint from the model servers the operator creates: they are labelled
name=vigil, instance=<model name>, so a model named like the release, in the release
namespace, would otherwise be selected too.
*/}}
{{- define "vigil.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vigil.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "vigil.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vigil.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
ClusterRole and ClusterRoleBinding name. Cluster-scoped, so the release namespace is part of
it: two releases in two namespaces must not overwrite each other's role.
*/}}
{{- define "vigil.clusterRoleName" -}}
{{- printf "%s-%s" .Release.Namespace (include "vigil.fullname" .) }}
{{- end }}

{{- define "vigil.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
What became of a Prometheus Operator object, for NOTES.txt: "rendered", "disabled", or why it
was skipped. Called with (list $ "Kind" .Values.<kind>.enabled).
*/}}
{{- define "vigil.monitoringState" -}}
{{- $root := index . 0 }}{{ $kind := index . 1 }}{{ $enabled := index . 2 }}
{{- if not $enabled }}disabled
{{- else if $root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" $kind) }}rendered
{{- else }}skipped: no monitoring.coreos.com/v1 {{ $kind }} API in the cluster (install the Prometheus Operator, then helm upgrade)
{{- end }}
{{- end }}
