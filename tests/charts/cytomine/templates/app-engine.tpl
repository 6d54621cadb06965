{{- $tasks := required "app_engine.tasks_namespace is required" .Values.app_engine.tasks_namespace }}
apiVersion: v1
kind: Namespace
metadata:
  name: {{ $tasks }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: app-engine
  namespace: {{ $tasks }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: app-engine-tasks
  namespace: {{ $tasks }}
rules:
  - apiGroups: [""]
    resources: [pods, pods/log]
    verbs: [create, get, list, watch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: app-engine-tasks
  namespace: {{ $tasks }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: app-engine-tasks
subjects:
  - kind: ServiceAccount
    name: {{ include "cytomine.serviceAccountName" . }}
    namespace: {{ .Release.Namespace }}
{{- if .Values.serviceAccount.create }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "cytomine.serviceAccountName" . }}
{{- end }}
