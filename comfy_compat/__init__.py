"""ComfyUI custom-node compatibility: an adapter at the edge, never imported by the engine.

`v1` turns ComfyUI V1 node classes (INPUT_TYPES / RETURN_TYPES / FUNCTION, exported through NODE_CLASS_MAPPINGS)
into Latent Loom `NodeSpec`s; `loader` finds them in the modules of a custom_nodes folder; `shims/` holds the
ComfyUI modules such packs import (`folder_paths`, `comfy.utils`, `comfy.model_management`). See
docs/custom-nodes.md for what is provided and what is not.
"""
