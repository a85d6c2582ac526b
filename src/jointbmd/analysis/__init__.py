"""Analyses built on the simulation's stages, and the validation table.

- ``effectiveness``: Wilkening's analytic model of defence effectiveness (closed form and Monte
  Carlo check).
- ``validate``: the table of checks against published numbers and textbook formulas that
  ``jointbmd validate`` prints and the tests assert.

Modules are imported by name (``from jointbmd.analysis import effectiveness``) so that importing
the package stays cheap.
"""
