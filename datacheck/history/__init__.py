"""Dataset versions: what a change did to the data, and content already seen."""
