"""RFM, behavioural clusters with names and rules, profiles, survey needs, assignment, targeting."""
