"""Hypernetwork training: host seam, dataset, schedule, optimizer, checkpoints and the loop.

Kept free of imports so `hypernet_ext.training.<module>` loads only what it needs.
"""
