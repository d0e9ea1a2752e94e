"""folder_paths, comfy.utils.ProgressBar and comfy.model_management as packs use them."""

import os

import comfy.model_management
import comfy.utils
import folder_paths

folder_paths.add_model_folder_path("test_notes", os.path.join(folder_paths.models_dir, "test_notes"))


class CountSteps:
    CATEGORY = "test_pack/files"
    FUNCTION = "count"
    RETURN_TYPES = ("INT",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"steps": ("INT", {"default": 3, "min": 1, "max": 100})}}

    def count(self, steps):
        bar = comfy.utils.ProgressBar(steps)
        done = 0
        for _ in range(steps):
            comfy.model_management.throw_exception_if_processing_interrupted()
            done += 1
            bar.update(1)
        return (done,)


class SaveNote:
    CATEGORY = "test_pack/files"
    FUNCTION = "save"
    OUTPUT_NODE = True
    RETURN_TYPES = ()

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "text": ("STRING", {"multiline": True, "default": ""}),
                "filename_prefix": ("STRING", {"default": "notes/note"}),
            },
            "optional": {"count": ("INT", {"forceInput": True})},
        }

    def save(self, text, filename_prefix, count=None):
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, folder_paths.get_output_directory()
        )
        file = f"{name}_{counter:05}_.txt"
        with open(os.path.join(folder, file), "w") as handle:
            handle.write(text if count is None else f"{text} x{count}")
        return {"ui": {"notes": [{"filename": file, "subfolder": subfolder, "type": "output"}]}}


class ReadNote:
    CATEGORY = "test_pack/files"
    FUNCTION = "read"
    RETURN_TYPES = ("STRING",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"note": (folder_paths.get_filename_list("test_notes") or ["none"],)}}

    def read(self, note):
        with open(folder_paths.get_full_path_or_raise("test_notes", note)) as handle:
            return (handle.read(),)


class UsesMissingHelper:
    CATEGORY = "test_pack/files"
    FUNCTION = "run"
    RETURN_TYPES = ("INT",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    def run(self):
        return (comfy.utils.a_helper_latent_loom_lacks(),)


NODE_CLASS_MAPPINGS = {
    "TestCountSteps": CountSteps,
    "TestSaveNote": SaveNote,
    "TestReadNote": ReadNote,
    "TestUsesMissingHelper": UsesMissingHelper,
}
