"""Retrieval: embeddings, the hnswlib index and its refresh, search, metrics and plots."""
