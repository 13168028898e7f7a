"""The pure core: decide the next actions from observed state, a spec and ``now``.

No module in this package may import a Kubernetes client, an HTTP library, the clock
or anything else that does I/O (enforced by import-linter, see pyproject.toml).
"""
