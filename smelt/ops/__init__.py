"""One module per operator family; smelt.registry imports them all (no list to edit)."""
