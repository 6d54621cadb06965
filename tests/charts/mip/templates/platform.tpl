{{- $ui := index .Values "platform-ui" -}}
{{- $backend := index .Values "platform-backend" -}}
{{- $sc := include "standin.storageClass" . -}}
{{- $notebook := eq (toString $ui.notebook.enabled) "true" -}}
{{- $publicHost := default "" .Values.global.publicHost -}}
{{ include "standin.pvc" (list "platform-backend-db-claim0" $sc .Values.platformBackendDatabase.persistence.size) }}
---
{{ include "standin.pvc" (list "platform-backend-claim0" $sc $backend.persistence.data.size) }}
---
{{ include "standin.pvc" (list "platform-backend-logs-claim0" $sc $backend.persistence.logs.size) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: platform-backend-db-init
data:
  10-bootstrap-platform-db.sh: |
{{ .Files.Get "files/platform-backend-db-init.sh" | indent 4 }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: platform-backend
spec:
  replicas: 1
  strategy:
    type: Recreate
  selector:
    matchLabels:
      app: platform-backend
  template:
    metadata:
      labels:
        app: platform-backend
    spec:
      {{- if not .Values.cluster.managed }}
      nodeSelector:
        master: "true"
      {{- end }}
      volumes:
        {{- range list "platform-backend-db-claim0" "platform-backend-claim0" "platform-backend-logs-claim0" }}
        - name: {{ . }}
          persistentVolumeClaim:
            claimName: {{ . }}
        {{- end }}
      containers:
        - name: platform-backend-db
          image: {{ .Values.platformBackendDatabase.image.repository }}:{{ .Values.platformBackendDatabase.image.tag }}
          env:
            {{- range $env, $key := dict "POSTGRES_USER" "DB_ADMIN_USER" "POSTGRES_PASSWORD" "DB_ADMIN_PASSWORD" "PLATFORM_DB_USER" "PLATFORM_DB_USER" "PLATFORM_DB_PASSWORD" "PLATFORM_DB_PASSWORD" }}
            - name: {{ $env }}
              valueFrom:
                secretKeyRef:
                  name: mip-secret
                  key: platform-backend-db.{{ $key }}
            {{- end }}
        - name: platform-backend
          image: {{ $backend.image.repository }}:{{ $backend.image.tag }}
          env:
            - name: LOG_LEVEL
              value: {{ $backend.config.logLevel | quote }}
            - name: AUTHENTICATION
              {{- /* upstream: `default true` turns keycloak.enabled false into true */}}
              value: {{ ternary "1" "0" (default true .Values.keycloak.enabled) | quote }}
            - name: EXAFLOW_URL
              value: {{ .Values.engines.exaflow.url | quote }}
            - name: KEYCLOAK_AUTH_URL
              value: {{ printf "%s://%s/auth/" (default "https" .Values.keycloak.protocol) (default "" .Values.keycloak.host) | quote }}
            - name: KEYCLOAK_REALM
              value: {{ default "MIP" .Values.keycloak.realm | quote }}
            {{- range $env, $key := dict "KEYCLOAK_CLIENT_ID" "client-id" "KEYCLOAK_CLIENT_SECRET" "client-secret" }}
            - name: {{ $env }}
              valueFrom:
                secretKeyRef:
                  name: keycloak-credentials
                  key: {{ $key }}
            {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: platform-backend-service
spec:
  selector:
    app: platform-backend
  ports:
    - name: "5432"
      port: 5432
    - name: "8080"
      port: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: platform-ui
spec:
  replicas: 1
  selector:
    matchLabels:
      app: platform-ui
  template:
    metadata:
      labels:
        app: platform-ui
    spec:
      {{- if eq (toString .Values.cluster.managed) "false" }}
      nodeSelector:
        master: "true"
      {{- end }}
      containers:
        - name: platform-ui
          image: "{{ $ui.image.repository }}:{{ $ui.image.tag }}"
          env:
            - name: PLATFORM_BACKEND_SERVER
              value: {{ printf "%s:%v" $ui.backend.host $ui.backend.port | quote }}
            - name: NOTEBOOK_ENABLED
              value: {{ ternary "1" "0" $notebook | quote }}
---
apiVersion: v1
kind: Service
metadata:
  name: platform-ui
spec:
  selector:
    app: platform-ui
  ports:
    - port: 80
{{- if and (ne (toString $ui.ingress.enabled) "false") $publicHost }}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: platform-ui-ingress
  {{- with $ui.ingress.certManagerClusterIssuer }}
  annotations:
    cert-manager.io/cluster-issuer: {{ . | quote }}
  {{- end }}
spec:
  ingressClassName: {{ default "nginx" $ui.ingress.className | quote }}
  {{- with $ui.ingress.tlsSecretName }}
  tls:
    - hosts: [{{ $publicHost }}]
      secretName: {{ . }}
  {{- end }}
  rules:
    - host: {{ $publicHost }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: platform-ui
                port:
                  number: 80
{{- end }}
