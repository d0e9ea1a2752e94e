import torch

from nodes import MAX_RESOLUTION


class BlendWithColor:
    """Mixes an image with a solid grey level: out = (1 - amount) * image + amount * level."""

    CATEGORY = "test_pack/image"
    DESCRIPTION = "Blend an image towards a grey level."
    FUNCTION = "blend"
    RETURN_TYPES = ("IMAGE", "INT")
    RETURN_NAMES = ("blended", "width")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE",),
                "amount": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "how much"}),
                "level": (["black", "grey", "white"], {"default": "grey"}),
            },
            "optional": {
                "mask": ("MASK",),
                "max_width": ("INT", {"default": 512, "min": 8, "max": MAX_RESOLUTION, "step": 8}),
            },
        }

    def blend(self, image, amount, level, mask=None, max_width=512):
        value = {"black": 0.0, "grey": 0.5, "white": 1.0}[level]
        weight = torch.full_like(image[..., :1], amount)
        if mask is not None:
            weight = weight * mask.unsqueeze(-1)
        return (image * (1 - weight) + value * weight, min(image.shape[2], max_width))


class ChannelSwap:
    CATEGORY = "test_pack/image"
    FUNCTION = "swap"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}}

    def swap(self, image):
        return (image.flip(-1),)
