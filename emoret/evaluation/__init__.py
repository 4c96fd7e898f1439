"""Retrieval metrics, the eval run and t-SNE maps."""
