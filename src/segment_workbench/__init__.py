"""Segment Workbench: customer segmentation, cohorts and CLTV for small and medium shops, as
repeatable notebook reports. The analysis lives in the subpackages (``io``, ``cleaning``,
``customers``, ``segmentation``, ``lifecycle``, ``clv``, ``campaigns``, ``viz``); ``app`` runs the
notebooks and writes the reports."""

__version__ = "0.2.0"
