"""How copies are found: hash neighbours, image variants, alignment and verification."""
