"""Benchmarks: the job suite on govgrid and its peers, micro-benchmarks, scaling, sizing.

Nothing imports this package; it is reached through ``govgrid bench`` and ``govgrid size``.
"""
