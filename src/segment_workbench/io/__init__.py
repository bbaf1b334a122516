"""Reading sources, mapping them to the transaction contract, and a run's artifacts."""
