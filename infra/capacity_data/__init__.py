"""Per-unit capacities for the capacity model: measured backend figures and their script."""
