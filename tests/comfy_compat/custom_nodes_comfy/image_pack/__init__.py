"""A V1 image pack written against ComfyUI's documented custom-node API (a package with a relative import)."""

from .image_nodes import BlendWithColor, ChannelSwap

NODE_CLASS_MAPPINGS = {
    "TestBlendWithColor": BlendWithColor,
    "TestChannelSwap": ChannelSwap,
    "Test Channel Swap (spaced name)": ChannelSwap,  # pack node names often have spaces and brackets
}
NODE_DISPLAY_NAME_MAPPINGS = {"TestBlendWithColor": "Blend With Color (test pack)"}
WEB_DIRECTORY = "./js"
