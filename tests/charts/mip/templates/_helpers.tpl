{{- /* ternary needs a real boolean: a string cluster.managed fails to render, as upstream. */ -}}
{{- define "standin.storageClass" -}}
{{- ternary .Values.cluster.storageClasses.managed .Values.cluster.storageClasses.local .Values.cluster.managed -}}
{{- end -}}
{{- define "standin.pvc" -}}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ index . 0 }}
spec:
  storageClassName: {{ index . 1 }}
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: {{ index . 2 }}
{{- end -}}
