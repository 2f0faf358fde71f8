"""Models: cross-validated probabilities, embeddings, the error decomposition."""
