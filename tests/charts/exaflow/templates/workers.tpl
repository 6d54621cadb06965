{{- define "standin.worker" -}}
{{- $role := index . 0 -}}
{{- $v := index . 1 -}}
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: exaflow-{{ $role }}
  namespace: {{ $v.namespace }}
  labels:
    app: exaflow-worker
    nodeType: {{ $role }}
spec:
  serviceName: exaflow-worker
  podManagementPolicy: Parallel
  replicas: {{ if eq $role "localworker" }}{{ $v.localnodes }}{{ else }}1{{ end }}
  selector:
    matchLabels:
      app: exaflow-worker
      nodeType: {{ $role }}
  template:
    metadata:
      labels:
        app: exaflow-worker
        nodeType: {{ $role }}
    spec:
      {{- if not $v.managed_cluster }}
      nodeSelector:
        {{ if eq $role "localworker" }}worker{{ else }}master{{ end }}: "true"
      {{- end }}
      {{- if eq $role "localworker" }}
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector:
                matchExpressions:
                  - key: nodeType
                    operator: In
                    values: [localworker]
              topologyKey: kubernetes.io/hostname
      {{- end }}
      volumes:
        - name: duckdb-data
          emptyDir: {}
        {{- if not $v.managed_cluster }}
        - name: csv-data
          hostPath:
            path: {{ printf "%s/csvs" (index $v.storage.hostPath.db $role) }}
        {{- end }}
      containers:
        - name: worker
          image: {{ $v.exaflow_images.repository }}/exaflow_worker:{{ $v.exaflow_images.version }}
          volumeMounts:
            - mountPath: /opt/data
              name: duckdb-data
            - mountPath: /opt/csvs
              name: csv-data
          env:
            - name: WORKER_ROLE
              value: {{ upper $role | quote }}
            - name: FEDERATION
              value: {{ $v.federation | quote }}
            - name: DATA_PATH
              value: /opt/csvs
            - name: SMPC_ENABLED
              value: {{ quote $v.smpc.enabled }}
        {{- if and $v.smpc.enabled (eq $role "localworker") }}
        - name: smpc-client
          image: {{ $v.smpc.image }}
        {{- end }}
  {{- if $v.managed_cluster }}
  volumeClaimTemplates:
    - metadata:
        name: csv-data
      spec:
        storageClassName: {{ $v.storage.cephfs.storageClassName }}
        accessModes:
          - {{ index (index $v.storage.cephfs $role).csvs.accessModes 0 }}
        resources:
          requests:
            storage: {{ (index $v.storage.cephfs $role).csvs.size }}
  {{- end }}
{{- end -}}
{{- if gt (int .Values.localnodes) 0 }}
{{ include "standin.worker" (list "localworker" .Values) }}
{{- end }}
---
{{ include "standin.worker" (list "globalworker" .Values) }}
---
apiVersion: v1
kind: Service
metadata:
  name: exaflow-globalworker
  namespace: {{ .Values.namespace }}
spec:
  clusterIP: None
  selector:
    app: exaflow-worker
    nodeType: globalworker
  ports:
    - port: 5672
      targetPort: 5672
