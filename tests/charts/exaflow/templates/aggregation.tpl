{{- if .Values.aggregation_server.enabled }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: exaflow-aggregation-server-deployment
  namespace: {{ .Values.namespace }}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: exaflow-aggregation-server
  template:
    metadata:
      labels:
        app: exaflow-aggregation-server
    spec:
      {{- if not .Values.managed_cluster }}
      nodeSelector:
        master: "true"
      {{- end }}
      containers:
        - name: aggregation-server
          image: {{ .Values.exaflow_images.repository }}/exaflow_aggregation_server:{{ .Values.exaflow_images.version }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Values.aggregation_server.dns }}
  namespace: {{ .Values.namespace }}
spec:
  selector:
    app: exaflow-aggregation-server
  ports:
    - port: 50051
      targetPort: 50051
{{- end }}
