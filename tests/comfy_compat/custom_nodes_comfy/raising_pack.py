"""A pack whose node raises when it runs."""


class AlwaysFails:
    CATEGORY = "test_pack/errors"
    FUNCTION = "fail"
    RETURN_TYPES = ("IMAGE",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}}

    def fail(self, image):
        raise ValueError("this node always fails")


class ListInputs:
    """Uses INPUT_IS_LIST, which is not supported yet: skipped with a message, the rest of the pack loads."""

    CATEGORY = "test_pack/errors"
    FUNCTION = "run"
    INPUT_IS_LIST = True
    RETURN_TYPES = ("INT",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 1})}}

    def run(self, value):
        return (len(value),)


NODE_CLASS_MAPPINGS = {"TestAlwaysFails": AlwaysFails, "TestListInputs": ListInputs}
