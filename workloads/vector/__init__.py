"""db.vector: agent memory as kNN retrieval over embeddings (exact and HNSW)."""
