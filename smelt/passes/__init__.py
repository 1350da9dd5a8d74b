"""Graph -> Graph transformations, one per module; pipeline.py lists them in order."""
