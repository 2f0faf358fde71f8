"""Where images come from: folder trees, manifests, URLs, revisions -> the index table."""
