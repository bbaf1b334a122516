"""Per-segment KPIs over time, campaign read-outs and the next test's design."""
