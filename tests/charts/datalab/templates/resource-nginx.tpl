# Like the real chart's developer leftover templates/resource-nginx.yml: an object for a hard-coded namespace
# that does not exist on a fresh cluster, so the install fails unless it is left out.
apiVersion: v1
kind: ConfigMap
metadata:
  name: resource-nginx
  namespace: devtest
data:
  note: developer leftover
