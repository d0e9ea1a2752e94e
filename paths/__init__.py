"""The layers under folders.py: folder kinds and their names, errors, the name checks (the security gate that every
name from outside passes) and ComfyUI's extra_model_paths.yaml. They import nothing of the process-wide folders,
so folders.py builds on them one way (docs/architecture.md)."""
