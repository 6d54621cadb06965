{{- if .Values.smpc.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: exaflow-smpc-coordinator-service
  namespace: {{ .Values.namespace }}
spec:
  type: LoadBalancer
  selector:
    app: exaflow-controller
  ports:
    - port: 12314
      targetPort: 12314
{{- range $i := until 3 }}
---
{{- /* Like upstream, the player Pods carry no namespace (release namespace) while their Services follow .Values.namespace. */}}
apiVersion: v1
kind: Pod
metadata:
  name: exaflow-smpc-player{{ $i }}
  labels:
    app: exaflow-smpc-players
    smpc_player: player{{ $i }}
spec:
  nodeSelector:
    smpc_player: "true"
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        - labelSelector:
            matchExpressions:
              - key: app
                operator: In
                values: [exaflow-smpc-players]
          topologyKey: kubernetes.io/hostname
  containers:
    - name: smpc-player
      image: {{ $.Values.smpc.image }}
      command: ["python", "player.py", "{{ $i }}"]
---
apiVersion: v1
kind: Service
metadata:
  name: exaflow-smpc-player{{ $i }}-service
  namespace: {{ $.Values.namespace }}
spec:
  selector:
    smpc_player: player{{ $i }}
  ports:
    - port: {{ add 7000 $i }}
      targetPort: {{ add 7000 $i }}
{{- end }}
{{- end }}
