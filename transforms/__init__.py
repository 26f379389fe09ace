"""newsbeam's stages, one module each; every stage is a composite PTransform with a dead-letter output."""
