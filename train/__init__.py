"""Loom Mini: the procedural shape world, its judge, and the scripts that train the shipped tiny model."""
