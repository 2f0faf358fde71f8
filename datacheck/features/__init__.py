"""What is computed once per image: decoding, hashes, thumbnails, properties, the cache."""
