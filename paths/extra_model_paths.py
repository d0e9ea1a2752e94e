"""ComfyUI's extra_model_paths.yaml: more folders per model kind (an existing ComfyUI or A1111 tree)."""

from __future__ import annotations

import os
from pathlib import Path

from paths.errors import ExtraModelPathsError
from paths.kinds import LEGACY_KIND_NAMES


def read_extra_model_paths(config: Path) -> list[tuple[str, Path, bool]]:
    """(kind, folder, is_default) entries of a ComfyUI extra_model_paths.yaml, paths made absolute.

    `base_path` is relative to the yaml's folder; folder paths are relative to `base_path`; `~` and
    `$VARS` are expanded; a value may list several folders, one per line.
    """
    import yaml  # only needed when such a file exists

    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise ExtraModelPathsError(f"cannot read extra model paths file {config}: {error}") from error
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ExtraModelPathsError(f"{config}: expected sections (a mapping) at the top, got {type(data).__name__}")
    here = config.resolve().parent
    entries: list[tuple[str, Path, bool]] = []
    for section, values in data.items():
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ExtraModelPathsError(
                f"{config}: section {section!r} must map folder kinds to paths, got {type(values).__name__}"
            )
        base: Path | None = None
        if values.get("base_path") is not None:
            base = Path(_expand(str(values["base_path"])))
            base = base if base.is_absolute() else here / base
        is_default = bool(values.get("is_default", False))
        for key, value in values.items():
            if key in ("base_path", "is_default"):
                continue
            if not isinstance(value, str):
                raise ExtraModelPathsError(
                    f"{config}: section {section!r}, key {key!r}: expected a path or lines of paths, "
                    f"got {type(value).__name__}"
                )
            kind = LEGACY_KIND_NAMES.get(str(key), str(key))
            for line in value.splitlines():
                if not line.strip():
                    continue
                folder = Path(_expand(line.strip()))
                if not folder.is_absolute():
                    folder = (base or here) / folder
                entries.append((kind, Path(os.path.normpath(folder)), is_default))
    return entries


def _expand(text: str) -> str:
    return os.path.expandvars(os.path.expanduser(text))
