"""The file adapter: Kubernetes manifests on disk (and stdin), read and rewritten.

Like :mod:`kprism.kube` for the API server, this is I/O at the edge: :mod:`kprism.ops`
calls it, the pure rules in :mod:`kprism.plan` never see a file. import-linter keeps it
beside the traffic routers, below ``ops``.

The names below live here, not in :mod:`kprism.files.manifests`, so that naming stdin
does not load the manifest reader and its YAML libraries (every command imports ops).
"""

from typing import Final

STDIN: Final = "-"  # the path that means stdin
STDIN_NAME: Final = "<stdin>"  # how findings name it
