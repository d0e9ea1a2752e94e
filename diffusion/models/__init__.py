"""Model files -> values: checkpoints (MODEL, CLIP, VAE), standalone VAEs, ControlNets, LoRAs, the model cache.

Entry points (import the submodule; importing this package stays cheap):

* ``checkpoint.load_checkpoint(path, device=None, dtype=None) -> (UnetModel, Clip, Vae)``
* ``vae_loader.load_vae(path, device=None) -> Vae``
* ``controlnet.load_controlnet(path, device=None, dtype=None) -> ControlNet``
* ``lora.apply_lora(model, clip, path, strength_model, strength_clip) -> (UnetModel, Clip)``
* ``cache.MODEL_CACHE.get(kind, path, loader)`` / ``MODEL_CACHE.free()``
* ``files.read_state_dict(path)`` (content-sniffed, validated, memory-mapped); files are identified by
  ``graph.fingerprint.file_fingerprint`` and cached under ``graph.memory``'s budgets
"""

import os

# Nothing here ever fetches from a hub; make any accidental lookup fail fast instead of hanging on the network.
# (Takes effect when this package is imported before huggingface_hub, which is the normal order.)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
