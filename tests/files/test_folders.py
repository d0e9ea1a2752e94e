"""folders.py: layout, extra_model_paths.yaml, listing, and the resolver refusing every escape."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import pytest

import folders
from folders import FileNotFoundInFolderError, Folders, PathOutsideFolderError
from graph.registry import NodeRegistry
from graph.sockets import Socket
from graph.spec import Outputs, node
from graph.widgets import Choices
from paths.names import name_problem

_UPSCALE_STUB = NodeRegistry()


class _UpscaleModel(Outputs):
    model: Annotated[str, Socket("UPSCALE_MODEL")]


@node("StubUpscaleLoader", category="loaders", registry=_UPSCALE_STUB)
def _stub_upscale_loader(name: Annotated[str, Choices(lambda: [], source="upscale_models")]) -> _UpscaleModel:
    return _UpscaleModel(model=name)


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_default_layout_follows_comfyui(tmp_path: Path) -> None:
    layout = Folders.at(tmp_path)
    assert layout.input_directory == tmp_path / "input"
    assert layout.output_directory == tmp_path / "output"
    assert layout.temp_directory == tmp_path / "temp"
    assert layout.user_directory == tmp_path / "user"
    assert layout.folders_for("checkpoints")[0] == tmp_path / "models" / "checkpoints"
    assert layout.folders_for("controlnet")[:2] == (tmp_path / "models/controlnet", tmp_path / "models/t2i_adapter")
    # legacy names map to the new kinds
    assert layout.folders_for("unet") == layout.folders_for("diffusion_models")
    assert layout.folders_for("clip") == layout.folders_for("text_encoders")
    # saved models in output/ are listed too, after models/
    assert layout.folders_for("checkpoints")[-1] == tmp_path / "output" / "checkpoints"


def test_directory_overrides_like_comfyui_flags(tmp_path: Path) -> None:
    layout = Folders.at(
        tmp_path / "base",
        input_directory=tmp_path / "in",
        output_directory=tmp_path / "out",
        temp_directory=tmp_path / "tmpparent",
        user_directory=tmp_path / "u",
    )
    assert layout.input_directory == tmp_path / "in"
    assert layout.output_directory == tmp_path / "out"
    assert layout.temp_directory == tmp_path / "tmpparent" / "temp"  # --temp-directory adds /temp
    assert layout.user_directory == tmp_path / "u"


def test_unknown_kind_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(folders.UnknownFolderKindError, match="unknown folder kind 'bogus'"):
        Folders.at(tmp_path).folders_for("bogus")
    with pytest.raises(folders.UnknownFolderKindError, match="input, output, temp, user"):
        Folders.at(tmp_path).io_directory("bogus")


def test_list_model_files_is_sorted_relative_posix_and_filtered(base: Folders) -> None:
    ckpts = base.primary_folder("checkpoints")
    touch(ckpts / "b.safetensors")
    touch(ckpts / "a.ckpt")
    touch(ckpts / "sdxl" / "base.safetensors")
    touch(ckpts / "notes.txt")
    touch(ckpts / ".hidden.safetensors")
    touch(base.output_directory / "checkpoints" / "saved.safetensors")
    assert folders.list_model_files("checkpoints") == [
        "a.ckpt",
        "b.safetensors",
        "saved.safetensors",
        "sdxl/base.safetensors",
    ]
    assert folders.model_path("checkpoints", "sdxl/base.safetensors") == (ckpts / "sdxl/base.safetensors").resolve()
    touch(base.primary_folder("configs") / "v1.yaml")
    touch(base.primary_folder("configs") / "v1.safetensors")
    assert folders.list_model_files("configs") == ["v1.yaml"]


def test_listing_skips_symlinks_that_leave_the_folder(base: Folders, tmp_path: Path) -> None:
    ckpts = base.primary_folder("checkpoints")
    outside = touch(tmp_path / "elsewhere" / "secret.safetensors")
    os.symlink(outside, ckpts / "link.safetensors")
    os.symlink(outside.parent, ckpts / "linkdir")
    inside = touch(ckpts / "real.safetensors")
    os.symlink(inside, ckpts / "alias.safetensors")
    os.symlink(ckpts, ckpts / "loop")  # a loop must not hang the walk
    assert folders.list_model_files("checkpoints") == ["alias.safetensors", "real.safetensors"]


def test_symlinked_model_folder_itself_is_fine(tmp_path: Path) -> None:
    disk = tmp_path / "bigdisk"
    touch(disk / "m.safetensors")
    (tmp_path / "base" / "models").mkdir(parents=True)
    os.symlink(disk, tmp_path / "base" / "models" / "checkpoints")
    layout = Folders.at(tmp_path / "base")
    assert layout.list_model_files("checkpoints") == ["m.safetensors"]
    assert layout.model_path("checkpoints", "m.safetensors") == disk.resolve() / "m.safetensors"


def test_extra_model_paths_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "base"
    base.mkdir()
    monkeypatch.setenv("LOOM_TEST_LORAS", str(tmp_path / "env_loras"))
    (base / "extra_model_paths.yaml").write_text(
        "a111:\n"
        "    base_path: ../webui\n"
        "    checkpoints: models/Stable-diffusion\n"
        "    controlnet: |\n"
        "        models/ControlNet\n"
        "        extensions/cn/models\n"
        "    unet: models/unet\n"
        "    my_new_kind: stuff\n"
        "first:\n"
        "    is_default: true\n"
        "    loras: $LOOM_TEST_LORAS\n"
        "empty:\n"
    )
    touch(tmp_path / "webui/models/Stable-diffusion/x.safetensors")
    touch(tmp_path / "env_loras/l.safetensors")
    layout = Folders.at(base)
    assert layout.folders_for("checkpoints")[-1] == tmp_path / "webui/models/Stable-diffusion"
    assert tmp_path / "webui/extensions/cn/models" in layout.folders_for("controlnet")
    assert layout.folders_for("diffusion_models")[-1] == tmp_path / "webui/models/unet"
    assert layout.folders_for("my_new_kind") == (tmp_path / "webui/stuff",)
    assert layout.primary_folder("loras") == tmp_path / "env_loras"  # is_default puts it first
    assert layout.list_model_files("checkpoints") == ["x.safetensors"]
    assert layout.list_model_files("loras") == ["l.safetensors"]
    assert layout.extra_configs == (base / "extra_model_paths.yaml",)


def test_extra_model_paths_custom_nodes(tmp_path: Path) -> None:
    config = tmp_path / "extra.yaml"
    config.write_text("a:\n  custom_nodes: plugins\nb:\n  is_default: true\n  custom_nodes: first\n")
    layout = Folders.at(tmp_path / "base", extra_model_paths_configs=[config])
    assert layout.custom_nodes_directories == (tmp_path / "first", tmp_path / "base/custom_nodes", tmp_path / "plugins")
    assert "custom_nodes" not in layout.model_folders


def test_extra_model_paths_without_base_path_is_relative_to_the_yaml(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "extra.yaml"
    config.parent.mkdir()
    config.write_text("s:\n  vae: vaes\n")
    layout = Folders.at(tmp_path / "base", extra_model_paths_configs=[config])
    assert layout.folders_for("vae")[-1] == tmp_path / "conf" / "vaes"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "expected sections"),
        ("s: [1, 2]\n", "section 's' must map"),
        ("s:\n  vae: [a, b]\n", "key 'vae'"),
        ("s: {a: [}\n", "cannot read"),
    ],
)
def test_malformed_extra_model_paths_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(folders.ExtraModelPathsError, match=message) as caught:
        Folders.at(tmp_path, extra_model_paths_configs=[config])
    assert "bad.yaml" in str(caught.value)


# ------------------------------------------------------------------ the resolver


ESCAPES = [
    "../../etc/passwd",
    "../x.png",
    "a/../../x.png",
    "a/../b.png",
    "/etc/passwd",
    "//server/share/x.png",
    "C:\\x",
    "C:x.png",
    "c:/windows/win.ini",
    "a\\..\\b",
    "..\\..\\x.png",
    "%2e%2e/x.png",
    "%2E%2E%2Fx.png",
    "%252e%252e/x.png",
    "x.png\x00.txt",
    "x\r\n.png",
    "a//b.png",
    "./x.png",
    "",
]


@pytest.mark.parametrize("name", ESCAPES)
@pytest.mark.parametrize("kind", ["input", "output", "temp", "checkpoints"])
def test_every_escape_is_refused(base: Folders, name: str, kind: str) -> None:
    touch(base.primary_folder(kind) / "x.png")
    with pytest.raises(PathOutsideFolderError) as caught:
        folders.resolve_path(kind, name)
    assert caught.value.kind == kind
    assert caught.value.name == name
    with pytest.raises(PathOutsideFolderError):
        folders.resolve_path(kind, name, must_exist=False)


@pytest.mark.parametrize("name", ["ab:c.png", "x/file.png:stream", "NUL.png", "sub/com1", "trailing.", "space "])
def test_windows_only_traps(name: str) -> None:
    assert name_problem(name, windows=True) is not None
    assert name_problem(name, windows=False) is None  # legal names on POSIX


@pytest.mark.parametrize("subfolder", ["..", "../..", "/tmp", "a/../..", "C:\\", "a\\..\\..", "%2e%2e", "a\x00"])
def test_escaping_subfolders_are_refused(base: Folders, subfolder: str) -> None:
    touch(base.output_directory / "x.png")
    with pytest.raises(PathOutsideFolderError, match="subfolder"):
        folders.resolve_path("output", "x.png", subfolder=subfolder)


def test_symlink_out_of_the_folder_is_refused(base: Folders, tmp_path: Path) -> None:
    secret = touch(tmp_path / "secret.txt", b"secret")
    os.symlink(secret, base.output_directory / "link.png")
    os.symlink(tmp_path, base.input_directory / "etc_link")
    with pytest.raises(PathOutsideFolderError, match="outside"):
        folders.resolve_path("output", "link.png")
    with pytest.raises(PathOutsideFolderError, match="outside"):
        folders.resolve_path("input", "secret.txt", subfolder="etc_link")
    with pytest.raises(PathOutsideFolderError, match="outside"):
        folders.resolve_path("input", "etc_link/secret.txt")
    with pytest.raises(PathOutsideFolderError):  # also when writing through the link
        folders.resolve_path("input", "etc_link/new.png", must_exist=False)


def test_symlink_staying_inside_is_allowed(base: Folders) -> None:
    real = touch(base.input_directory / "sub" / "real.png")
    os.symlink(real, base.input_directory / "alias.png")
    assert folders.resolve_path("input", "alias.png") == real.resolve()


def test_valid_names_resolve(base: Folders) -> None:
    image = touch(base.output_directory / "sub" / "dir" / "x.png")
    assert folders.resolve_path("output", "x.png", subfolder="sub/dir") == image.resolve()
    assert folders.resolve_path("output", "sub/dir/x.png") == image.resolve()
    # names with spaces, unicode, dots and brackets are ordinary names
    odd = touch(base.input_directory / "my pic (1) ü..v2.png")
    assert folders.resolve_path("input", "my pic (1) ü..v2.png") == odd.resolve()
    fresh = folders.resolve_path("output", "new.png", subfolder="later", must_exist=False)
    assert fresh == base.output_directory.resolve() / "later" / "new.png"


def test_missing_file_names_kind_and_name(base: Folders) -> None:
    with pytest.raises(FileNotFoundInFolderError) as caught:
        folders.model_path("checkpoints", "nope.safetensors")
    assert caught.value.kind == "checkpoints"
    assert "checkpoint 'nope.safetensors' does not exist" in str(caught.value)
    assert str(base.primary_folder("checkpoints")) in str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)


def test_first_folder_holding_the_file_wins(base: Folders) -> None:
    later = touch(base.output_directory / "checkpoints" / "m.safetensors")
    assert folders.model_path("checkpoints", "m.safetensors") == later.resolve()
    first = touch(base.primary_folder("checkpoints") / "m.safetensors")
    assert folders.model_path("checkpoints", "m.safetensors") == first.resolve()


def test_missing_model_hint_says_where_and_what(base: Folders) -> None:
    hint = folders.missing_model_hint("checkpoints")
    assert str(base.primary_folder("checkpoints")) in hint
    assert "SDXL" in hint and "SD 1.x" in hint
    assert "demo-model" in hint
    assert "LoRA" in folders.missing_model_hint("loras")


def test_annotated_names() -> None:
    assert folders.split_annotated_name("x.png [output]") == ("output", "x.png")
    assert folders.split_annotated_name("clipspace/x.png [input]") == ("input", "clipspace/x.png")
    assert folders.split_annotated_name("x.png") == ("input", "x.png")
    assert folders.split_annotated_name("x [bogus]") == ("input", "x [bogus]")


def test_configure_and_get_folders(tmp_path: Path) -> None:
    previous = folders.get_folders()
    try:
        configured = folders.configure(tmp_path, output_directory=tmp_path / "o")
        assert folders.get_folders() is configured
        assert configured.output_directory == tmp_path / "o"
    finally:
        folders.use(previous)


def test_fresh_layout_gets_the_templates_example_image(tmp_path: Path) -> None:
    layout = Folders.at(tmp_path / "fresh")
    layout.ensure_layout()
    example = layout.input_directory / "example.png"
    assert example.read_bytes() == folders.EXAMPLE_INPUT_IMAGE.read_bytes()
    assert all(folder.is_dir() for folder in (layout.output_directory, layout.temp_directory, layout.user_directory))
    assert not (layout.base_directory / "models").exists()  # no node was named: no model folder
    example.unlink()
    layout.ensure_layout(["checkpoints", "clip"])  # an existing input folder is the user's: nothing is added back
    assert not example.exists()
    created = sorted(path.name for path in (layout.base_directory / "models").iterdir())
    assert created == ["checkpoints", "text_encoders"]


def test_only_folders_some_node_reads_are_created(tmp_path: Path) -> None:
    """The folders come from what registered nodes declare: a new loader gets its folder without a list to edit."""
    import nodes.loaders  # noqa: F401 - declares the embeddings reader

    uses = folders.folder_uses(_UPSCALE_STUB)
    assert uses["upscale_models"] == ["StubUpscaleLoader"]
    assert "checkpoints" not in uses
    assert "embeddings" in uses  # declared by nodes.loaders for `embedding:NAME` in prompts

    yaml = tmp_path / "extra.yaml"
    yaml.write_text("s:\n  base_path: " + str(tmp_path / "other") + "\n  gligen: gligen\n")
    layout = Folders.at(tmp_path / "base", extra_model_paths_configs=[yaml])
    layout.ensure_layout(uses)
    created = sorted(path.name for path in (layout.base_directory / "models").iterdir())
    # A kind named in extra_model_paths.yaml counts as used; another tree's folders are never created.
    assert created == ["embeddings", "gligen", "upscale_models"]
    assert not (tmp_path / "other").exists()


def test_the_catalog_reads_the_usual_folders() -> None:
    import nodes
    from graph.registry import REGISTRY

    nodes.load_catalog(None)
    uses = folders.folder_uses(REGISTRY)
    assert uses["checkpoints"] == ["CheckpointLoaderSimple"]
    assert "LoraLoader" in uses["loras"] and "VAELoader" in uses["vae"]
    assert "hypernetworks" not in uses and "photomaker" not in uses  # nothing loads these yet


def test_clean_temp(base: Folders) -> None:
    touch(base.temp_directory / "a" / "b.png")
    base.clean_temp()
    assert base.temp_directory.is_dir() and not any(base.temp_directory.iterdir())


# ------------------------------------------------------------------ output naming


def test_save_target_counter_continues_past_existing_files(base: Folders) -> None:
    target = folders.save_target("ComfyUI", 64, 64)
    assert target.counter == 1 and target.subfolder == "" and target.folder == base.output_directory.resolve()
    assert target.file_name(target.counter, "png") == "ComfyUI_00001_.png"
    touch(base.output_directory / "ComfyUI_00001_.png")
    touch(base.output_directory / "comfyui_00007_.png")  # case-insensitive, as ComfyUI
    touch(base.output_directory / "ComfyUI_x.png")
    touch(base.output_directory / "Other_00050_.png")
    target = folders.save_target("ComfyUI")
    assert target.counter == 8
    assert target.file_name(10, "png") == "ComfyUI_00010_.png"


def test_write_new_file_never_replaces_a_file(base: Folders) -> None:
    target = folders.save_target("race")
    assert target.counter == 1
    # Another writer took 00001 and 00002 after the counter was computed.
    (base.output_directory / "race_00001_.png").write_bytes(b"theirs 1")
    (base.output_directory / "race_00002_.png").write_bytes(b"theirs 2")
    name, used = target.write_new_file(b"ours", "png", target.counter)
    assert (name, used) == ("race_00003_.png", 3)
    assert (base.output_directory / "race_00001_.png").read_bytes() == b"theirs 1"
    assert (base.output_directory / name).read_bytes() == b"ours"
    assert not list(base.output_directory.glob(".*"))  # no staging file left behind


def test_batch_num_token_counts_per_batch(base: Folders) -> None:
    target = folders.save_target("img_%batch_num%")
    for index in range(2):
        target.write_new_file(b"x", "png", target.counter, batch_number=index)
    assert sorted(path.name for path in base.output_directory.iterdir()) == ["img_0_00001_.png", "img_1_00001_.png"]
    # A rerun continues the counter instead of overwriting (ComfyUI's counter would restart at 1 here).
    assert folders.save_target("img_%batch_num%").counter == 2


def test_save_target_subfolder_and_tokens(base: Folders) -> None:
    target = folders.save_target("runs/%width%x%height%/img", 640, 480)
    assert target.subfolder == "runs/640x480"
    assert target.filename == "img"
    assert target.folder == base.output_directory.resolve() / "runs" / "640x480"
    dated = folders.expand_prefix_tokens("%year%-%month%-%day%_%hour%%minute%%second%", 1, 1)
    assert len(dated) == len("2026-11-21_070930")


@pytest.mark.parametrize("prefix", ["../evil", "/tmp/evil", "a/../../evil", "C:\\evil", "sub/", "", "a\x00b"])
def test_save_target_refuses_escaping_prefixes(base: Folders, prefix: str) -> None:
    with pytest.raises(PathOutsideFolderError):
        folders.save_target(prefix)


def test_save_target_refuses_symlinked_subfolder_out(base: Folders, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", base.output_directory / "sneaky")
    with pytest.raises(PathOutsideFolderError, match="outside"):
        folders.save_target("sneaky/img")
