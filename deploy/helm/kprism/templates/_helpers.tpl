{{/* What the controller does in every namespace it drives (kprism.plan.install.NAMESPACED_RULES). */}}
{{- define "kprism.rules" -}}
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "list"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "create", "update", "patch", "delete"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "create", "patch", "delete"]
{{- end -}}

{{/* A binding of the role "name" to the controller's ServiceAccount. */}}
{{- define "kprism.subjects" -}}
subjects:
- kind: ServiceAccount
  name: kprism-controller
  namespace: {{ .Release.Namespace }}
{{- end -}}

{{/* The labels of one shard's pods: (dict "shard" "" | "<i>"). */}}
{{- define "kprism.labels" -}}
app.kubernetes.io/name: kprism-controller
{{- if ne .shard "" }}
kprism.dev/shard: {{ .shard | quote }}
{{- end }}
{{- end -}}

{{/* One shard's Deployment: (dict "root" $ "shard" "" | "<i>"). */}}
{{- define "kprism.deployment" -}}
{{- $v := .root.Values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kprism-controller{{ if ne .shard "" }}-{{ .shard }}{{ end }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "kprism.labels" . | nindent 4 }}
  annotations:
    # no Service sends it requests (only the kubelet's probes and Prometheus' scrapes)
    kprism.dev/doctor-ignore: KP002
spec:
  replicas: {{ int $v.replicas }}
  selector:
    matchLabels:
      {{- include "kprism.labels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "kprism.labels" . | nindent 8 }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "8081"
        prometheus.io/path: /metrics
    spec:
      serviceAccountName: kprism-controller
      terminationGracePeriodSeconds: 30
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        seccompProfile:
          type: RuntimeDefault
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector:
                matchLabels:
                  {{- include "kprism.labels" . | nindent 18 }}
      containers:
      - name: controller
        image: {{ $v.image | quote }}
        args:
        - controller
        {{- if $v.namespaces }}
        {{- range (uniq $v.namespaces) }}
        - --namespace={{ . }}
        {{- end }}
        {{- else }}
        - --exclude-namespace=kube-system
        {{- end }}
        {{- if ne .shard "" }}
        - --shards={{ int $v.shards }}
        - --shard-index={{ .shard }}
        {{- end }}
        - --health-address=0.0.0.0
        - --health-port=8081
        - --log-format=json
        env:
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        ports:
        - name: http
          containerPort: 8081
          protocol: TCP
        livenessProbe:
          httpGet:
            path: /healthz
            port: http
          periodSeconds: 10
          failureThreshold: 3
        readinessProbe:
          httpGet:
            path: /readyz
            port: http
          periodSeconds: 5
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
          limits:
            memory: 512Mi
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            drop: ["ALL"]
        volumeMounts:
        - name: tmp
          mountPath: /tmp
      volumes:
      - name: tmp
        emptyDir:
          sizeLimit: 64Mi
{{- end -}}
