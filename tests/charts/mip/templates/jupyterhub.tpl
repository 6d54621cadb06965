{{- $hub := .Values.jupyterhub -}}
{{- $ui := index .Values "platform-ui" -}}
{{- if eq (toString $ui.notebook.enabled) "true" }}
{{- if eq (toString .Values.keycloak.enabled) "false" }}
{{- fail "platform-ui.notebook.enabled requires keycloak.enabled (stand-in of the upstream check)" }}
{{- end }}
{{- if $hub.cryptKey }}
apiVersion: v1
kind: Secret
metadata:
  name: jupyterhub-crypt
stringData:
  crypt-key: {{ $hub.cryptKey | quote }}
---
{{- end }}
{{ include "standin.pvc" (list "jupyterhub-claim0" (include "standin.storageClass" .) "1Gi") }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: jupyterhub
---
apiVersion: v1
kind: Service
metadata:
  name: jupyterhub
spec:
  selector:
    app: jupyterhub
  ports:
    - name: http
      port: 80
      targetPort: 8000
{{- if eq (toString $hub.ingress.enabled) "true" }}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: jupyterhub
spec:
  ingressClassName: {{ default "nginx" $ui.ingress.className | quote }}
  rules:
    - host: notebooks.{{ .Values.global.publicHost }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: jupyterhub
                port:
                  number: 80
{{- end }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: jupyterhub
spec:
  replicas: 1
  strategy:
    type: Recreate
  selector:
    matchLabels:
      app: jupyterhub
  template:
    metadata:
      labels:
        app: jupyterhub
    spec:
      serviceAccountName: jupyterhub
      {{- if eq (toString .Values.cluster.managed) "false" }}
      nodeSelector:
        master: "true"
      {{- end }}
      volumes:
        - name: jupyterhub-claim0
          persistentVolumeClaim:
            claimName: jupyterhub-claim0
      containers:
        - name: jupyterhub
          image: "{{ $hub.image.repository }}:{{ $hub.image.tag }}"
          env:
            - name: JUPYTER_SINGLEUSER_IMAGE
              value: "{{ $hub.singleuser.image.repository }}:{{ $hub.singleuser.image.tag }}"
            {{- range $env, $ref := dict "KEYCLOAK_CLIENT_ID" (list "keycloak-credentials" "client-id") "KEYCLOAK_CLIENT_SECRET" (list "keycloak-credentials" "client-secret") "JUPYTERHUB_CRYPT_KEY" (list "jupyterhub-crypt" "crypt-key") }}
            - name: {{ $env }}
              valueFrom:
                secretKeyRef:
                  name: {{ index $ref 0 }}
                  key: {{ index $ref 1 }}
            {{- end }}
{{- end }}
