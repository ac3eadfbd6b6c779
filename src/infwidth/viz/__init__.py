"""Figures (matplotlib, Agg backend): one module per kind of plot."""
