"""What the cache tells people: exports, the cell writers they share, and the notebook view."""
