"""Acquisition cohorts and churn as survival."""
