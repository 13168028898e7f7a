"""Command-line shell over :mod:`kprism.ops` (``kprism`` and ``kubectl prism``)."""
