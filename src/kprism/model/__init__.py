"""Plain data: frozen dataclasses for observed state, release specs, status and actions.

Nothing here does I/O; everything here is hashable or at least immutable so the
planner can be tested with tables and Hypothesis.
"""
