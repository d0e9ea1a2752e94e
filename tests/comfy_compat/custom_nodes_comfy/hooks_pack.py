"""Hidden inputs, IS_CHANGED, VALIDATE_INPUTS, ui returns, a custom socket type and a `*` input."""

from aiohttp import web

from server import PromptServer

CALLS = {"is_changed": 0}


@PromptServer.instance.routes.get("/test_pack/hello")
async def hello(request):
    return web.json_response({"hello": "from hooks_pack"})


class MakePoints:
    CATEGORY = "test_pack/hooks"
    FUNCTION = "make"
    RETURN_TYPES = ("POINT_LIST",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"count": ("INT", {"default": 3, "min": 1, "max": 10})}}

    @classmethod
    def VALIDATE_INPUTS(cls, count):
        if count == 7:
            return "seven points are not allowed"
        return True

    @classmethod
    def IS_CHANGED(cls, count):
        CALLS["is_changed"] += 1
        return f"points-{count}"

    def make(self, count):
        return ([(i, i * i) for i in range(count)],)


class ShowAnything:
    CATEGORY = "test_pack/hooks"
    FUNCTION = "show"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"value": ("*",), "label": ("STRING", {"default": "value", "multiline": False})},
            "hidden": {"unique_id": "UNIQUE_ID", "prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    @classmethod
    def IS_CHANGED(cls, **kwargs):
        return float("nan")

    def show(self, value, label, unique_id=None, prompt=None, extra_pnginfo=None):
        text = f"{label}={value!r} node={unique_id} nodes_in_prompt={len(prompt or {})}"
        PromptServer.instance.send_sync("test_pack.shown", {"node": unique_id, "label": label})
        return {"ui": {"text": [text]}, "result": (text,)}


NODE_CLASS_MAPPINGS = {"TestMakePoints": MakePoints, "TestShowAnything": ShowAnything}
NODE_DISPLAY_NAME_MAPPINGS = {"TestShowAnything": "Show Anything (test pack)"}
