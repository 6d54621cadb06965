{{- $i := .Values.instance }}
{{- $od := .Values.od }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-vnc
type: Opaque
stringData:
  password: {{ required "vnc.vncPassword" .Values.vnc.vncPassword | quote }}
---
# Shared stage-in/out volume: the real chart hard-codes this StorageClass.
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .Release.Name }}-work
spec:
  storageClassName: nfs-csi
  accessModes: [ReadWriteMany]
  resources:
    requests:
      storage: 1Gi
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}-master
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ .Release.Name }}-tools
rules:
  - apiGroups: [batch]
    resources: [jobs]
    verbs: [create, get, list, watch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ .Release.Name }}-tools
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ .Release.Name }}-tools
subjects:
  - kind: ServiceAccount
    name: {{ .Release.Name }}-master
{{- range $component := list "controller" "master" "vnc" }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $.Release.Name }}-{{ $component }}
  labels:
    app: {{ $.Release.Name }}-{{ $component }}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {{ $.Release.Name }}-{{ $component }}
  template:
    metadata:
      labels:
        app: {{ $.Release.Name }}-{{ $component }}
    spec:
      {{- if eq $component "master" }}
      serviceAccountName: {{ $.Release.Name }}-master
      {{- with $i.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- end }}
      containers:
        - name: {{ $component }}
          image: cerit.io/scipion/scipion-{{ $component }}:{{ $i.releaseChannel }}
          {{- if eq $component "vnc" }}
          env:
            - name: VNC_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: {{ $.Release.Name }}-vnc
                  key: password
          {{- end }}
          {{- if eq $component "master" }}
          resources:
            requests:
              cpu: {{ $i.mincpu | quote }}
              memory: {{ $i.minram | quote }}
            limits:
              cpu: {{ $i.maxcpu | quote }}
              memory: {{ $i.maxram | quote }}
              {{- if gt (int $i.gpu) 0 }}
              nvidia.com/gpu: {{ $i.gpu }}
              {{- end }}
          {{- end }}
          volumeMounts:
            - name: work
              mountPath: /mnt/work
            {{- if $i.microk8s }}
            - name: od-dataset
              mountPath: /mnt/od-dataset
            - name: od-project
              mountPath: /mnt/od-project
            {{- end }}
      volumes:
        - name: work
          persistentVolumeClaim:
            claimName: {{ $.Release.Name }}-work
        {{- if $i.microk8s }}
        - name: od-dataset
          persistentVolumeClaim:
            claimName: {{ $.Release.Name }}-od-dataset-{{ $od.dataset.spaceIdShort }}
        - name: od-project
          persistentVolumeClaim:
            claimName: {{ $.Release.Name }}-od-project-{{ $od.project.spaceIdShort }}
        {{- end }}
{{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-vnc
spec:
  type: {{ .Values.vnc.serviceType }}
  selector:
    app: {{ .Release.Name }}-vnc
  ports:
    - name: novnc
      port: 6080
      {{- if eq .Values.vnc.serviceType "NodePort" }}
      nodePort: {{ .Values.vnc.nodePort }}
      {{- end }}
{{- if .Values.vnc.ingress.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .Release.Name }}-vnc
spec:
  ingressClassName: {{ .Values.vnc.ingress.className }}
  rules:
    - host: {{ required "vnc.ingress.host" .Values.vnc.ingress.host | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ .Release.Name }}-vnc
                port:
                  name: novnc
{{- end }}
