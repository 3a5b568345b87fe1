"""Prices and usage assumptions: the layer below capacity and review."""
