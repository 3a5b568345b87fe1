"""The offline review tools, siblings over the plan layer: diff, cost, diagram, report."""
