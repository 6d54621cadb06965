{{- $ns := .Values.namespace }}
{{- range $secret := list "mongo-password-secret" "auth-signing-key" "tls-secret" }}
{{- include "standin.requireSecret" (dict "namespace" $ns "name" $secret) }}
{{- end }}
{{- if .Values.notifications.email }}
{{- include "standin.requireSecret" (dict "namespace" $ns "name" "email-notification-secret") }}
{{- end }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: notifications-config
  namespace: {{ $ns }}
data:
  notifications.json: |
    {"dev": {{ .Values.notifications.dev }}, "email": {"from": {{ .Values.notifications.email.fromAddress | quote }},
     "name": {{ .Values.notifications.email.fromDisplayName | quote }}, "host": {{ .Values.notifications.email.hostname | quote }},
     "port": {{ .Values.notifications.email.port }}, "secure": {{ .Values.notifications.email.secure }},
     "to": {{ .Values.notifications.email.toAddress | quote }}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .Values.datalabName }}-internal-claim
  namespace: {{ $ns }}
  annotations:
    volume.beta.kubernetes.io/storage-class: {{ .Values.internalVolumeStorageClass }}
spec:
  accessModes: [ReadWriteMany]
  resources:
    requests:
      storage: {{ .Values.internalVolumeSize }}
{{- range $name, $component := dict "infrastructure-api" .Values.infrastructureApi "datalab-auth" .Values.datalabAuth "datalab-app" .Values.datalabApp }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ $ns }}
spec:
  replicas: {{ $component.replicas }}
  selector:
    matchLabels:
      name: {{ $name }}
  template:
    metadata:
      labels:
        name: {{ $name }}
      annotations: {{ include "standin.podAnnotations" $ | nindent 8 }}
    spec:
      {{- if eq $name "infrastructure-api" }}
      serviceAccountName: infrastructure-service-account
      {{- end }}
      containers:
        - name: app
          image: "{{ $component.imageName }}:{{ $.Chart.AppVersion }}"
          imagePullPolicy: {{ $component.policy }}
          env:
            - name: DATALAB_NAME
              value: {{ $.Values.datalabName }}
            - name: ENVIRONMENT
              value: {{ $.Values.environment }}
            {{- if eq $name "infrastructure-api" }}
            - name: MONGO_USER
              value: {{ $.Values.mongoUserName }}
            - name: MONGO_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: mongo-password-secret
                  key: secret
            {{- end }}
          resources:
            requests:
              cpu: 50m
              memory: 128Mi
            limits:
              cpu: 500m
              memory: 512Mi
          {{- if eq $name "datalab-auth" }}
          volumeMounts:
            - name: keys
              mountPath: /etc/keys
      volumes:
        - name: keys
          secret:
            secretName: auth-signing-key
          {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}-service
  namespace: {{ $ns }}
spec:
  type: NodePort
  selector:
    name: {{ $name }}
  ports:
    - port: 80
      targetPort: 8000
{{- end }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: mongo
  namespace: {{ $ns }}
spec:
  replicas: 1
  selector:
    matchLabels:
      name: mongo
  template:
    metadata:
      labels:
        name: mongo
      annotations: {{ include "standin.podAnnotations" . | nindent 8 }}
    spec:
      containers:
        - name: app
          image: "{{ .Values.mongo.imageName }}:{{ .Values.mongo.version }}"
          resources:
            requests:
              cpu: 50m
              memory: 128Mi
            limits:
              cpu: 500m
              memory: 512Mi
          volumeMounts:
            - name: data
              mountPath: /data/db
      volumes:
        - name: data
          persistentVolumeClaim:
            claimName: {{ .Values.datalabVolume }}-internal-claim
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: expire-notebooks
  namespace: {{ $ns }}
spec:
  schedule: "*/15 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: expire
              image: "{{ .Values.kubectl.imageName }}:{{ .Values.kubectl.version }}"
              args: [{{ .Values.expireNotebooks.expireTimeLimit | quote }}, {{ .Values.expireNotebooks.expireTimeWarning | quote }},
                     {{ .Values.expireNotebooks.inUseTimeWarning | quote }}]
              resources:
                limits:
                  cpu: 100m
                  memory: 64Mi
{{- range $ingress := list (dict "name" "datalab-ingress" "host" .Values.datalabName "service" "datalab-app-service")
                          (dict "name" "datalab-docs-ingress" "host" (printf "%s-docs" .Values.datalabName) "service" "datalab-app-service") }}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ $ingress.name }}
  namespace: {{ $ns }}
spec:
  ingressClassName: nginx
  tls:
    - hosts: [{{ printf "%s.%s" $ingress.host $.Values.domain | quote }}]
      secretName: tls-secret
  rules:
    - host: {{ printf "%s.%s" $ingress.host $.Values.domain | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ $ingress.service }}
                port:
                  number: 80
{{- end }}
