{{- /* Like upstream: objects go to .Values.namespace, and a non-boolean managed_cluster is judged by truthiness. */ -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: exaflow-controller-deployment
  namespace: {{ .Values.namespace }}
  labels:
    app: exaflow-controller
spec:
  replicas: 1
  selector:
    matchLabels:
      app: exaflow-controller
  template:
    metadata:
      labels:
        app: exaflow-controller
    spec:
      {{- if not .Values.managed_cluster }}
      nodeSelector:
        master: "true"
      {{- end }}
      containers:
        - name: controller
          image: {{ .Values.exaflow_images.repository }}/exaflow_controller:{{ .Values.exaflow_images.version }}
          ports:
            - containerPort: 5000
          env:
            - name: FEDERATION
              value: {{ .Values.federation | quote }}
            - name: LOG_LEVEL
              value: {{ .Values.log_level | quote }}
            - name: FRAMEWORK_LOG_LEVEL
              value: {{ .Values.framework_log_level | quote }}
            - name: WORKERS_CLEANUP_INTERVAL
              value: {{ quote .Values.controller.workers_cleanup_interval }}
            - name: WORKER_TASKS_TIMEOUT
              value: {{ quote .Values.controller.worker_tasks_timeout }}
            - name: LOCALWORKERS_DNS
              value: {{ quote .Values.controller.workers_dns }}
            - name: AGGREGATION_SERVER_ENABLED
              value: {{ quote .Values.aggregation_server.enabled }}
            - name: SMPC_ENABLED
              value: {{ quote .Values.smpc.enabled }}
            {{- if .Values.smpc.enabled }}
            - name: SMPC_OPTIONAL
              value: {{ quote .Values.smpc.optional }}
            {{- end }}
        {{- if .Values.smpc.enabled }}
        - name: smpc-db
          image: {{ .Values.smpc.db_image }}
        - name: smpc-queue
          image: {{ .Values.smpc.queue_image }}
        - name: smpc-coordinator
          image: {{ .Values.smpc.image }}
        {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: exaflow-controller-service
  namespace: {{ .Values.namespace }}
spec:
  {{- if not .Values.managed_cluster }}
  type: LoadBalancer
  {{- end }}
  selector:
    app: exaflow-controller
  ports:
    - protocol: TCP
      port: 5000
      targetPort: 5000
      {{- if not .Values.managed_cluster }}
      nodePort: 30000
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: exaflow-workers-service
  namespace: {{ .Values.namespace }}
spec:
  clusterIP: None
  selector:
    app: exaflow-worker
  ports:
    - protocol: TCP
      port: 5672
      targetPort: 5672
