"""The Kubernetes adapter: the only package that talks to the API server."""
