{{- range $space := list "dataset" "project" }}
{{- $od := index $.Values.od $space }}
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ $.Release.Name }}-od-{{ $space }}
type: Opaque
stringData:
  host: {{ $od.host | quote }}
  onedata_token: {{ $od.token | quote }}
  space_id: {{ $od.spaceId | quote }}
  oneclient_options: ""
{{- if $.Values.instance.microk8s }}
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: {{ $.Release.Namespace }}-{{ $.Release.Name }}-od-{{ $space }}-{{ $od.spaceIdShort }}
spec:
  storageClassName: onedata
  accessModes: [ReadWriteMany]
  capacity:
    storage: 1Ti
  persistentVolumeReclaimPolicy: Retain
  claimRef:
    namespace: {{ $.Release.Namespace }}
    name: {{ $.Release.Name }}-od-{{ $space }}-{{ $od.spaceIdShort }}
  csi:
    driver: csi-onedata
    volumeHandle: {{ $.Release.Namespace }}-{{ $.Release.Name }}-{{ $space }}
    nodePublishSecretRef:
      name: {{ $.Release.Name }}-od-{{ $space }}
      namespace: {{ $.Release.Namespace }}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ $.Release.Name }}-od-{{ $space }}-{{ $od.spaceIdShort }}
spec:
  storageClassName: onedata
  accessModes: [ReadWriteMany]
  volumeName: {{ $.Release.Namespace }}-{{ $.Release.Name }}-od-{{ $space }}-{{ $od.spaceIdShort }}
  resources:
    requests:
      storage: 1Ti
{{- end }}
{{- end }}
