{{- define "cytomine.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cytomine.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cytomine.name" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Like upstream's URL helpers: a null domainName prints %!s(<nil>), which breaks the YAML that uses it. */}}
{{- define "cytomine.domain" -}}
{{- printf "%s" .Values.global.domainName -}}
{{- end -}}

{{/* A workload: (list $ name image port resources [claims]) -> Deployment or StatefulSet with its Service. */}}
{{- define "standin.workload" -}}
{{- $ := index . 0 -}}
{{- $name := index . 1 -}}
{{- $claims := list -}}
{{- if gt (len .) 5 }}{{ $claims = index . 5 }}{{ end -}}
apiVersion: apps/v1
kind: {{ if $claims }}StatefulSet{{ else }}Deployment{{ end }}
metadata:
  name: {{ $name }}
  labels:
    app: {{ include "cytomine.name" $ }}-{{ $name }}
    release: {{ $.Release.Name }}
spec:
  replicas: 1
  {{- if $claims }}
  serviceName: {{ $name }}
  {{- end }}
  selector:
    matchLabels:
      app: {{ include "cytomine.name" $ }}-{{ $name }}
  template:
    metadata:
      labels:
        app: {{ include "cytomine.name" $ }}-{{ $name }}
    spec:
      serviceAccountName: {{ include "cytomine.serviceAccountName" $ }}
      securityContext:
        runAsUser: {{ $.Values.containerSecurity.userID }}
        fsGroup: {{ $.Values.containerSecurity.fsgroupID }}
      containers:
        - name: {{ $name }}
          image: {{ index . 2 | quote }}
          imagePullPolicy: {{ $.Values.images.pullPolicy }}
          ports:
            - containerPort: {{ index . 3 }}
          {{- with index . 4 }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            allowPrivilegeEscalation: {{ $.Values.containerSecurity.allowPrivilegeEscalation }}
            privileged: {{ $.Values.containerSecurity.privileged }}
            readOnlyRootFilesystem: {{ $.Values.containerSecurity.readOnlyRootFilesystem }}
          {{- if $claims }}
          volumeMounts:
            {{- range $claims }}
            - name: {{ .name }}
              mountPath: /data/{{ .name }}
            {{- end }}
          {{- end }}
  {{- if $claims }}
  volumeClaimTemplates:
    {{- range $claims }}
    - metadata:
        name: {{ .name }}
      spec:
        storageClassName: {{ .class }}
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: {{ .size }}
    {{- end }}
  {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
spec:
  selector:
    app: {{ include "cytomine.name" $ }}-{{ $name }}
  ports:
    - port: {{ index . 3 }}
{{- end -}}

{{/* A password Secret made once: kept from the cluster on upgrades, random on install (and on helm template). */}}
{{- define "standin.lookupSecret" -}}
{{- $existing := lookup "v1" "Secret" .ns .name -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ .name }}
type: Opaque
data:
  password: {{ if $existing }}{{ index $existing.data "password" }}{{ else }}{{ randAlphaNum 32 | b64enc }}{{ end }}
{{- end -}}
