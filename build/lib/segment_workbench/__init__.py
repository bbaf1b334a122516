"""Segment Workbench: customer analytics helpers used by the notebooks in ``notebooks/``."""

__version__ = "0.1.0"
