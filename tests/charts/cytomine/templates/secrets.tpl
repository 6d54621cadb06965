{{- range $name := list "admin-iam-secret" "keystore-iam-secret" "postgres-iam-secret" "postgres-core-secret" "postgres-app-engine-secret" }}
---
{{ include "standin.lookupSecret" (dict "ns" $.Release.Namespace "name" $name) }}
{{- end }}
---
apiVersion: v1
kind: Secret
metadata:
  name: cytomine-core-secret
type: Opaque
stringData:
  ADMIN_PASSWORD: {{ .Values.core.admin_password | quote }}
  ADMIN_PRIVATE_KEY: {{ .Values.core.admin_private_key | quote }}
  ADMIN_PUBLIC_KEY: {{ .Values.core.admin_public_key | quote }}
  JWT_SECRET: {{ .Values.core.jwt_secret | quote }}
  SUPER_ADMIN_PRIVATE_KEY: {{ .Values.core.super_admin_private_key | quote }}
  SUPER_ADMIN_PUBLIC_KEY: {{ .Values.core.super_admin_public_key | quote }}
  IMAGE_SERVER_PRIVATE_KEY: {{ .Values.core.image_server_private_key | quote }}
  IMAGE_SERVER_PUBLIC_KEY: {{ .Values.core.image_server_public_key | quote }}
  SMTP_PASSWORD: {{ .Values.core.smtp_password | quote }}
  JAVAMELODY_PASS: {{ .Values.core.javamelody_password | quote }}
  POSTGIS_PASS: {{ .Values.core.postgis_password | quote }}
  MONGO_PASS: {{ .Values.mongodb.password | quote }}
---
apiVersion: v1
kind: Secret
metadata:
  name: cytomine-pims-secret
type: Opaque
stringData:
  public_key: {{ .Values.pims.public_key | quote }}
  private_key: {{ .Values.pims.private_key | quote }}
---
apiVersion: v1
kind: Secret
metadata:
  name: mongodb-secret
type: Opaque
stringData:
  password: {{ .Values.mongodb.password | quote }}
---
apiVersion: v1
kind: Secret
metadata:
  name: cytomine-core-config
type: Opaque
stringData:
  application.yml.sample: |
    serverURL: https://{{ include "cytomine.domain" . }}
    smtp: {host: {{ .Values.smtpHost }}, port: {{ .Values.smtpPort }}}
    serverId: {{ .Values.core.server_id }}
