apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: core
  annotations:
    cert-manager.io/issuer: letsencrypt
spec:
  ingressClassName: public
  tls:
    - hosts:
        - {{ include "cytomine.domain" . }}
      secretName: cytomine-ingress-tls-1
  rules:
    - host: {{ include "cytomine.domain" . }}
      http:
        paths:
          {{- range $path, $service := dict "/server" "core" "/api" "core" "/iam" "iam" "/cbir" "cbir" "/upload" "pims" "/ims" "pims" "/" "web-ui" }}
          - path: {{ $path }}
            pathType: Prefix
            backend:
              service:
                name: {{ $service }}
                port:
                  number: 80
          {{- end }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: core
spec:
  podSelector:
    matchLabels:
      app: {{ include "cytomine.name" . }}-core
  policyTypes: [Egress]
  egress:
    - to:
        - ipBlock:
            cidr: {{ .Values.global.publicIP }}
      ports:
        - port: 80
          protocol: {{ .Values.global.protocol }}
        - port: 443
          protocol: {{ .Values.global.protocol }}
    - ports:
        - port: {{ .Values.rabbitmq.port }}
        - port: {{ .Values.mongodb.port }}
        - port: {{ .Values.postgresql.port }}
