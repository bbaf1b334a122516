"""Charts (plot functions take prepared data and return an Axes) and tables for display."""
