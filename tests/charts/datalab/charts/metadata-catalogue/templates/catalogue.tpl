apiVersion: v1
kind: ConfigMap
metadata:
  name: metadata-catalogue
data:
  hostname: {{ .Values.hostname | default "" | quote }}
