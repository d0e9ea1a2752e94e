"""ComfyUI's `comfy` package, as far as custom nodes need it (utils, model_management); see docs/custom-nodes.md."""
