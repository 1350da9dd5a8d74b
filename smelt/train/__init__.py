"""Training helpers (the `smelt[train]` extra: torch, tqdm): multi-task training, ..."""
