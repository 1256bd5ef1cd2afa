"""Clocks, memory samplers and quality metrics: each measures one thing."""
