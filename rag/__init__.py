"""Tessera's local knowledge: a chromadb vector store with offline embeddings."""
