"""Bounded, safe reading of input files, pipes and JSON streams, and safe YAML: the lowest layer (no parsing policy, no Pulumi)."""
