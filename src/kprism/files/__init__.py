"""The file adapter: Kubernetes manifests on disk (and stdin), read and rewritten.

Like :mod:`kprism.kube` for the API server, this is I/O at the edge: :mod:`kprism.ops`
calls it, the pure rules in :mod:`kprism.plan` never see a file. import-linter keeps it
beside the traffic routers, below ``ops``.
"""
