"""Training helpers (the `smelt[train]` extra: torch, tqdm); multitask.py: a shared backbone with several heads."""
