# The real chart's fixed names: two releases cannot both own them.
apiVersion: v1
kind: ServiceAccount
metadata:
  name: infrastructure-service-account
  namespace: {{ .Values.namespace }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: infrastructure-management-role
rules:
  - apiGroups: [""]
    resources: [pods, services]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: infrastructure-management
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: infrastructure-management-role
subjects:
  - kind: ServiceAccount
    name: infrastructure-service-account
    namespace: {{ .Values.namespace }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: health-check-role
rules:
  - nonResourceURLs: [/healthz]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: infrastructure-management-health
  namespace: {{ .Values.namespace }}
subjects:
  - kind: ServiceAccount
    name: infrastructure-service-account
    namespace: {{ .Values.namespace }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: health-check-role
