"""Image encoders for image prompting: CLIP / SigLIP vision towers (CLIPVisionLoader) and style models."""
