{{- $v := .Values }}
{{- $pg := required "postgresql.storageClassName is required" $v.postgresql.storageClassName }}
{{- $mongo := required "mongodb.storageClassName is required" $v.mongodb.storageClassName }}
{{- $images := required "pims.imageStorage.storageClassName is required" $v.pims.imageStorage.storageClassName }}
{{- $temp := required "pims.tempImageStorage.storageClassName is required" $v.pims.tempImageStorage.storageClassName }}
{{- if $v.core.deploy }}
{{ include "standin.workload" (list $ "core" $v.images.core $v.core.port $v.core.resources) }}
{{- end }}
{{- if $v.pims.deploy }}
---
{{ include "standin.workload" (list $ "pims" $v.images.pims $v.pims.port $v.pims.resources (list (dict "name" "image-storage" "class" $images "size" $v.imageStorage) (dict "name" "temp-image-storage" "class" $temp "size" $v.tempImageStorage))) }}
{{- end }}
{{- if $v.pims_cache.deploy }}
---
{{ include "standin.workload" (list $ "pims-cache" $v.images.pims_cache $v.pims_cache.port $v.pims_cache.resources) }}
{{- end }}
{{- if $v.postgresql.deploy }}
---
{{ include "standin.workload" (list $ "postgis" $v.images.postgresql $v.postgresql.port $v.postgresql.resources (list (dict "name" "postgis-data" "class" $pg "size" $v.postgresStorage))) }}
{{- end }}
---
{{ include "standin.workload" (list $ "postgres-iam" $v.images.postgresql_iam $v.postgresql.port $v.postgresql.resources (list (dict "name" "postgres-iam-data" "class" $pg "size" $v.postgresStorage))) }}
---
{{ include "standin.workload" (list $ "postgres-app-engine" $v.images.postgresql_app_engine $v.postgresql.port $v.postgresql.resources (list (dict "name" "postgres-app-engine-data" "class" $pg "size" $v.postgresStorage))) }}
{{- if $v.mongodb.deploy }}
---
{{ include "standin.workload" (list $ "mongodb" $v.images.mongodb $v.mongodb.port $v.mongodb.resources (list (dict "name" "mongodb-data" "class" $mongo "size" $v.mongodbStorage))) }}
{{- end }}
{{- if $v.web_ui.deploy }}
---
{{ include "standin.workload" (list $ "web-ui" $v.images.web_ui $v.web_ui.port $v.web_ui.resources) }}
{{- end }}
---
{{ include "standin.workload" (list $ "iam" $v.images.iam $v.iam.port dict) }}
---
{{ include "standin.workload" (list $ "cbir" $v.images.cbir $v.cbir.port dict) }}
---
{{ include "standin.workload" (list $ "redis" $v.images.redis $v.redis.port dict) }}
---
{{ include "standin.workload" (list $ "app-engine" $v.images.app_engine $v.app_engine.port dict) }}
---
{{ include "standin.workload" (list $ "registry" "registry:2.8.3" 5000 dict) }}
{{- if $v.nginx.deploy }}
{{- fail "stand-in: the pinned chart's nginx templates do not render (nginx.deploy must stay false)" }}
{{- end }}
