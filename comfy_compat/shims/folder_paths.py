"""ComfyUI's `folder_paths` on Latent Loom's folders (folders.py): model folders, input/output/temp, file names.

Every name from a node input is resolved inside its folder (no `..`, no absolute paths), as Latent Loom's own
loaders do. Folders a pack adds (`add_model_folder_path`, `folder_names_and_paths[...] = ...`) are seen by the
packs' calls here; Latent Loom's built-in loaders keep reading their configured folders.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import folders
from comfy_compat.missing import not_provided
from paths.kinds import MODEL_EXTENSIONS
from paths.names import checked_relative, contained, walk_inside

supported_pt_extensions: set[str] = set(MODEL_EXTENSIONS)


def _base() -> folders.Folders:
    return folders.get_folders()


#: kind -> ([folders], {extensions}) per configured Folders (the server or a test may configure new ones).
_TABLES: dict[int, tuple[folders.Folders, dict[str, tuple[list[str], set[str]]]]] = {}


def _table() -> dict[str, tuple[list[str], set[str]]]:
    """ComfyUI's `folder_names_and_paths` for the current folders, built on first use; packs may add to it."""
    layout = _base()
    known = _TABLES.get(id(layout))
    if known is None or known[0] is not layout:
        table = {
            kind: ([str(path) for path in paths], set(supported_pt_extensions))
            for kind, paths in layout.model_folders.items()
        }
        known = _TABLES[id(layout)] = (layout, table)
    return known[1]


def get_input_directory() -> str:
    return str(_base().input_directory)


def get_output_directory() -> str:
    return str(_base().output_directory)


def get_temp_directory() -> str:
    return str(_base().temp_directory)


def get_user_directory() -> str:
    return str(_base().user_directory)


def get_directory_by_type(type_name: str) -> str | None:
    """"input", "output" or "temp" to its folder; None for anything else (ComfyUI's answer)."""
    return {"input": get_input_directory, "output": get_output_directory, "temp": get_temp_directory}.get(
        type_name, lambda: None
    )()


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    """Add a folder to a kind (created on first use); `is_default` puts it first."""
    table = _table()
    paths, extensions = table.setdefault(folder_name, ([], set(supported_pt_extensions)))
    if full_folder_path in paths:
        paths.remove(full_folder_path)
    if is_default:
        paths.insert(0, full_folder_path)
    else:
        paths.append(full_folder_path)
    table[folder_name] = (paths, extensions)


def get_folder_paths(folder_name: str) -> list[str]:
    return list(_entry(folder_name)[0])


def _entry(folder_name: str) -> tuple[list[str], set[str]]:
    table = _table()
    entry = table.get(folder_name)
    if entry is None:
        canonical = folders.LEGACY_KIND_NAMES.get(folder_name, folder_name)
        entry = table.get(canonical)
    if entry is None:
        raise KeyError(f"unknown model folder kind {folder_name!r}")
    return entry


def filter_files_extensions(files: Iterable[str], extensions: Iterable[str]) -> list[str]:
    wanted = {ext.lower() for ext in extensions}
    return sorted(name for name in files if not wanted or os.path.splitext(name)[1].lower() in wanted)


def get_filename_list(folder_name: str) -> list[str]:
    """Relative '/'-separated names of the files of a kind, sorted (a combo's choices)."""
    paths, extensions = _entry(folder_name)
    names: set[str] = set()
    for folder in paths:
        names.update(walk_inside(Path(folder)))
    return filter_files_extensions(names, extensions)


def get_full_path(folder_name: str, filename: str) -> str | None:
    """The file `filename` in the folders of a kind, or None; names that leave the folder are refused (None)."""
    try:
        paths, _ = _entry(folder_name)
        relative = checked_relative(folder_name, filename, "")
    except (KeyError, folders.PathOutsideFolderError):
        return None
    for folder in paths:
        try:
            candidate = contained(folder_name, filename, Path(folder), relative)
        except folders.PathOutsideFolderError:
            return None
        if candidate.is_file():
            return str(candidate)
    return None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    found = get_full_path(folder_name, filename)
    if found is None:
        raise FileNotFoundError(f"model in folder {folder_name!r} with filename {filename!r} not found")
    return found


def annotated_filepath(name: str) -> tuple[str, str | None]:
    """"x.png [output]" -> ("x.png", the output folder); unannotated names -> (name, None)."""
    for kind in ("output", "input", "temp"):
        if name.endswith(f" [{kind}]"):
            return name[: -len(kind) - 3], get_directory_by_type(kind)
    return name, None


def get_annotated_filepath(name: str, default_dir: str | None = None) -> str:
    """The path of an input name such as "x.png" or "x.png [output]", confined to its folder."""
    kind, plain = folders.split_annotated_name(name)
    if default_dir is not None and plain == name:  # unannotated: the folder the caller names
        folder = Path(default_dir)
        return str(contained("input", plain, folder, checked_relative("input", plain, "")))
    return str(folders.resolve_path(kind, plain, must_exist=False))


def exists_annotated_filepath(name: str) -> bool:
    try:
        return os.path.exists(get_annotated_filepath(name))
    except folders.PathOutsideFolderError:
        return False


def get_save_image_path(
    filename_prefix: str, output_dir: str, image_width: int = 0, image_height: int = 0
) -> tuple[str, str, int, str, str]:
    """(folder, file name, counter, subfolder, prefix) for saving, as ComfyUI returns; output or temp folder only."""
    kind = "temp" if Path(output_dir).resolve() == _base().temp_directory.resolve() else "output"
    if kind == "output" and Path(output_dir).resolve() != _base().output_directory.resolve():
        raise ValueError("get_save_image_path: only the output and temp folders may be written")
    target = folders.save_target(filename_prefix, image_width, image_height, kind=kind)
    target.folder.mkdir(parents=True, exist_ok=True)  # ComfyUI creates it; save_target checked it stays inside
    return str(target.folder), target.filename, target.counter, target.subfolder, filename_prefix


def __getattr__(name: str) -> Any:
    # Module attributes that follow the configured folders (read through the module, never copied at import).
    if name == "folder_names_and_paths":
        return _table()
    if name == "base_path":
        return str(_base().base_directory)
    if name == "models_dir":
        return str(_base().base_directory / "models")
    raise not_provided("folder_paths", name)
