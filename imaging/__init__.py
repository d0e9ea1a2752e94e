"""Image files and tensors: PNG metadata as ComfyUI writes it, image<->tensor conversions, latent files.

Independent of the graph engine (no `graph` imports), so the server and the CLI can use it too.
"""
