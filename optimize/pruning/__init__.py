"""Structured pruning: what to cut (targets), how (channels), keeping the real structure
(structure), recovering quality (recovery) and the on-disk layout of a pruned model (persist).

The pass itself is optimize/passes/prune.py; its variant format optimize/formats/pruned.py.
"""
