"""Cleaning rules with an accounting log, and the data-quality overview of collected lines."""
