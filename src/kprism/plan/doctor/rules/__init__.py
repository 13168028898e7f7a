"""The doctor's rules: one module per rule, or per small family of rules.

Each module defines ``RULES``, a tuple of :class:`~kprism.plan.doctor.checks.RuleDef`
(the rule's metadata, its check and, if it can fix, its fixer).
:mod:`kprism.plan.doctor.registry` finds every module in this package: adding a rule is
adding a module here (and a row in docs/doctor.md, which a test checks).
"""
