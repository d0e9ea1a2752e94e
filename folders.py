"""Where files live: the base directory, model folders, input/output/temp/user, and safe name resolution.

Layout and flags follow ComfyUI (`folder_paths.py`), so an existing ComfyUI tree and its
`extra_model_paths.yaml` work unchanged. Every name that arrives from outside (a widget value, an upload name,
a `/view` subfolder) goes through `resolve_path`, which resolves symlinks and refuses anything that ends up
outside its folder. Names are always '/'-separated and relative ("sdxl/base.safetensors"), on every OS.

    configure(base_directory=Path("/data/loom"))
    list_model_files("checkpoints")            # ["sd15.safetensors", "sdxl/base.safetensors"]
    model_path("checkpoints", "sd15.safetensors")
    resolve_path("output", "x.png", subfolder="sub")
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The repository root: the default base directory (ComfyUI's default is its own folder too).
REPO_ROOT = Path(__file__).resolve().parent

#: File extensions ComfyUI lists as model files (`supported_pt_extensions`).
MODEL_EXTENSIONS = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"})
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".mpo"})
LATENT_EXTENSIONS = frozenset({".latent"})

#: Model folder kinds -> folder names under `models/` (ComfyUI's keys and paths, in its order).
DEFAULT_MODEL_FOLDERS: Mapping[str, tuple[str, ...]] = {
    "checkpoints": ("checkpoints",),
    "configs": ("configs",),
    "loras": ("loras",),
    "vae": ("vae",),
    "text_encoders": ("text_encoders", "clip"),
    "diffusion_models": ("unet", "diffusion_models"),
    "clip_vision": ("clip_vision",),
    "style_models": ("style_models",),
    "embeddings": ("embeddings",),
    "diffusers": ("diffusers",),
    "vae_approx": ("vae_approx",),
    "controlnet": ("controlnet", "t2i_adapter"),
    "gligen": ("gligen",),
    "upscale_models": ("upscale_models",),
    "hypernetworks": ("hypernetworks",),
    "photomaker": ("photomaker",),
    "classifiers": ("classifiers",),
    "model_patches": ("model_patches",),
    "audio_encoders": ("audio_encoders",),
}
#: Old names ComfyUI still accepts for two kinds (also in extra_model_paths.yaml).
LEGACY_KIND_NAMES: Mapping[str, str] = {"unet": "diffusion_models", "clip": "text_encoders"}
#: Extensions per kind where they differ from MODEL_EXTENSIONS.
KIND_EXTENSIONS: Mapping[str, frozenset[str]] = {"configs": frozenset({".yaml"})}
#: Folders that hold the user's files rather than models.
IO_KINDS = ("input", "output", "temp", "user")
#: main.py in ComfyUI lists saved models from output/ too.
OUTPUT_MODEL_SUBFOLDERS: Mapping[str, str] = {
    "checkpoints": "checkpoints",
    "text_encoders": "clip",
    "vae": "vae",
    "diffusion_models": "diffusion_models",
    "loras": "loras",
}
#: What a human calls each kind, for messages.
KIND_LABELS: Mapping[str, str] = {
    "checkpoints": "checkpoint",
    "loras": "LoRA",
    "vae": "VAE",
    "controlnet": "ControlNet model",
    "embeddings": "textual-inversion embedding",
    "upscale_models": "upscale model",
    "text_encoders": "text encoder",
    "diffusion_models": "diffusion model (UNet)",
}
#: The model families the loaders understand (diffusion.types.Family), for the first-run message.
LOADABLE_FAMILIES = "SD 1.x, SD 2.x (epsilon and v-prediction), SDXL base and SDXL refiner"
DEMO_MODEL_COMMAND = "python server.py demo-model"
#: The image the shipped templates load (img2img, inpaint, ControlNet); its transparent patch is inpaint's mask.
EXAMPLE_INPUT_IMAGE = REPO_ROOT / "workflows" / "example.png"


class FolderError(Exception):
    """A name could not be turned into a file inside its folder; the message names the kind and the name."""

    def __init__(self, message: str, *, kind: str, name: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name


class PathOutsideFolderError(FolderError, ValueError):
    """The name is malformed or would lead outside its folder (.., absolute, drive letter, symlink out, NUL)."""


class FileNotFoundInFolderError(FolderError, FileNotFoundError):
    """The name is well-formed but no such file exists in any folder of its kind."""


class UnknownFolderKindError(FolderError, KeyError):
    """The kind is not a known folder kind."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ExtraModelPathsError(Exception):
    """An extra_model_paths.yaml file is unreadable or malformed; the message names the file and section."""


@dataclass(frozen=True)
class Folders:
    """The configured folders of one installation. Immutable; `configure` swaps the process-wide instance."""

    base_directory: Path
    input_directory: Path
    output_directory: Path
    temp_directory: Path
    user_directory: Path
    #: kind -> folders, searched in order (the first folder containing a name wins).
    model_folders: Mapping[str, tuple[Path, ...]]
    #: custom_nodes folders (the base's plus any from extra_model_paths.yaml).
    custom_nodes_directories: tuple[Path, ...] = ()
    #: The extra_model_paths.yaml files that were applied, in order.
    extra_configs: tuple[Path, ...] = field(default=())

    @classmethod
    def at(
        cls,
        base_directory: Path | str | None = None,
        *,
        input_directory: Path | str | None = None,
        output_directory: Path | str | None = None,
        temp_directory: Path | str | None = None,
        user_directory: Path | str | None = None,
        extra_model_paths_configs: Sequence[Path | str] = (),
        load_default_extra_config: bool = True,
    ) -> Folders:
        """The layout under `base_directory` (default: the repo root), with ComfyUI's overrides applied.

        `temp_directory`, like ComfyUI's `--temp-directory`, names the parent of the `temp` folder.
        `extra_model_paths.yaml` in the base directory is read when present, then each listed config.
        """
        base = _absolute(base_directory) if base_directory is not None else REPO_ROOT
        output = _absolute(output_directory) if output_directory is not None else base / "output"
        models: dict[str, list[Path]] = {
            kind: [base / "models" / name for name in names] for kind, names in DEFAULT_MODEL_FOLDERS.items()
        }
        for kind, sub in OUTPUT_MODEL_SUBFOLDERS.items():
            models[kind].append(output / sub)
        custom_nodes = [base / "custom_nodes"]
        configs: list[Path] = []
        default_config = base / "extra_model_paths.yaml"
        if load_default_extra_config and default_config.is_file():
            configs.append(default_config)
        configs.extend(_absolute(config) for config in extra_model_paths_configs)
        for config in configs:
            for kind, path, is_default in read_extra_model_paths(config):
                paths = custom_nodes if kind == "custom_nodes" else models.setdefault(kind, [])
                if path in paths:
                    paths.remove(path)
                if is_default:  # ComfyUI: is_default puts the folder first, so new files go there
                    paths.insert(0, path)
                else:
                    paths.append(path)
        return cls(
            base_directory=base,
            input_directory=_absolute(input_directory) if input_directory is not None else base / "input",
            output_directory=output,
            temp_directory=(_absolute(temp_directory) if temp_directory is not None else base) / "temp",
            user_directory=_absolute(user_directory) if user_directory is not None else base / "user",
            model_folders={kind: tuple(paths) for kind, paths in models.items()},
            custom_nodes_directories=tuple(custom_nodes),
            extra_configs=tuple(configs),
        )

    def folders_for(self, kind: str) -> tuple[Path, ...]:
        """Every folder of `kind` ("checkpoints", "input", "unet", ...), in search order."""
        if kind in IO_KINDS:
            return (self.io_directory(kind),)
        canonical = LEGACY_KIND_NAMES.get(kind, kind)
        if canonical not in self.model_folders:
            known = ", ".join([*IO_KINDS, *sorted(self.model_folders)])
            raise UnknownFolderKindError(f"unknown folder kind {kind!r}; known kinds: {known}", kind=kind, name="")
        return self.model_folders[canonical]

    def io_directory(self, kind: str) -> Path:
        """The input, output, temp or user folder."""
        directories = {
            "input": self.input_directory,
            "output": self.output_directory,
            "temp": self.temp_directory,
            "user": self.user_directory,
        }
        if kind not in directories:
            raise UnknownFolderKindError(
                f"unknown folder type {kind!r}; expected one of {', '.join(IO_KINDS)}", kind=kind, name=""
            )
        return directories[kind]

    def primary_folder(self, kind: str) -> Path:
        """The folder where new files of `kind` go (and where a newcomer should put models)."""
        return self.folders_for(kind)[0]

    def list_files(self, kind: str, extensions: Iterable[str] | None = None) -> list[str]:
        """Relative '/'-separated names of the files of `kind`, sorted, deduplicated, filtered by extension.

        Symlinks are followed only while they stay inside their folder (the resolver would refuse the rest).
        """
        wanted = frozenset(ext.lower() for ext in extensions) if extensions is not None else None
        names: set[str] = set()
        for folder in self.folders_for(kind):
            for name in _walk_inside(folder):
                if wanted is None or _suffix(name) in wanted:
                    names.add(name)
        return sorted(names)

    def list_model_files(self, kind: str) -> list[str]:
        """The model files of `kind`, filtered by the kind's extensions (a loader's combo options)."""
        canonical = LEGACY_KIND_NAMES.get(kind, kind)
        return self.list_files(kind, KIND_EXTENSIONS.get(canonical, MODEL_EXTENSIONS))

    def resolve_path(self, kind: str, name: str, *, subfolder: str = "", must_exist: bool = True) -> Path:
        """The path of `subfolder/name` inside a folder of `kind`, symlinks resolved; refuses everything else.

        Raises PathOutsideFolderError for a malformed or escaping name, FileNotFoundInFolderError when
        `must_exist` and no folder of the kind holds the file. With `must_exist=False` the path in the
        primary folder is returned (for writing), still checked for containment.
        """
        relative = _checked_relative(kind, name, subfolder)
        folders = self.folders_for(kind)
        for folder in folders:
            candidate = _contained(kind, name, folder, relative)
            if candidate.is_file():
                return candidate
        if must_exist:
            looked_in = ", ".join(str(folder) for folder in folders)
            shown = f"{subfolder}/{name}" if subfolder else name
            raise FileNotFoundInFolderError(
                f"{_label(kind)} {shown!r} does not exist (looked in {looked_in})", kind=kind, name=name
            )
        return _contained(kind, name, folders[0], relative)

    def model_path(self, kind: str, name: str) -> Path:
        """The file a loader should open for widget value `name` of `kind` (must exist)."""
        return self.resolve_path(kind, name)

    def missing_model_hint(self, kind: str) -> str:
        """A newcomer's message for an empty model folder: where to put files and what loads."""
        label = _label(kind)
        folder = self.primary_folder(kind)
        if LEGACY_KIND_NAMES.get(kind, kind) == "checkpoints":
            return (
                f"No checkpoint found. Put a checkpoint file (.safetensors, or .ckpt) into {folder}/ "
                f"(or a folder listed in extra_model_paths.yaml) and reload. Families that load: "
                f"{LOADABLE_FAMILIES}. To try the pipeline without downloading anything, run "
                f"`{DEMO_MODEL_COMMAND}`: it writes a tiny random-weight checkpoint that draws noise."
            )
        return f"No {label} file found. Put one into {folder}/ (or a folder listed in extra_model_paths.yaml)."

    def extra_config_kinds(self) -> set[str]:
        """The model kinds named in the applied extra_model_paths.yaml files (canonical names)."""
        kinds: set[str] = set()
        for config in self.extra_configs:
            for kind, _path, _is_default in read_extra_model_paths(config):
                if kind != "custom_nodes":
                    kinds.add(LEGACY_KIND_NAMES.get(kind, kind))
        return kinds

    def ensure_layout(self, model_kinds: Iterable[str] = ()) -> None:
        """Create the input/output/temp/user folders, and the primary folder of each model kind that is used.

        `model_kinds` are the kinds some node reads (`folder_uses` on the registry); the kinds named in
        extra_model_paths.yaml are added. Nothing else is created: an empty folder no node reads from would
        only mislead. A newly created input folder gets the templates' `example.png`, so they run at once.
        """
        new_input = not self.input_directory.exists()
        for kind in IO_KINDS:
            self.io_directory(kind).mkdir(parents=True, exist_ok=True)
        wanted = {LEGACY_KIND_NAMES.get(kind, kind) for kind in model_kinds} | self.extra_config_kinds()
        for kind in sorted(wanted):
            if kind in self.model_folders:
                self.primary_folder(kind).mkdir(parents=True, exist_ok=True)
        if new_input and EXAMPLE_INPUT_IMAGE.is_file():
            shutil.copyfile(EXAMPLE_INPUT_IMAGE, self.input_directory / EXAMPLE_INPUT_IMAGE.name)

    def clean_temp(self) -> None:
        """Empty the temp folder (ComfyUI does this at startup and exit); the folder itself is recreated."""
        shutil.rmtree(self.temp_directory, ignore_errors=True)
        self.temp_directory.mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------- the process-wide instance

_current: Folders | None = None


def configure(base_directory: Path | str | None = None, **overrides: Any) -> Folders:
    """Set the process-wide folders (server and CLI flags); returns them. See `Folders.at` for the options."""
    global _current
    _current = Folders.at(base_directory, **overrides)
    return _current


def use(folders: Folders) -> Folders:
    """Install an already-built `Folders` as the process-wide instance (tests); returns the previous one."""
    global _current
    previous = get_folders()
    _current = folders
    return previous


def get_folders() -> Folders:
    """The process-wide folders (the repo-root layout until `configure` is called)."""
    global _current
    if _current is None:
        _current = Folders.at()
    return _current


def list_model_files(kind: str) -> list[str]:
    """The model files of `kind` in the configured folders: a loader's `Choices` provider."""
    return get_folders().list_model_files(kind)


def model_path(kind: str, name: str) -> Path:
    """The existing file named `name` in the configured folders of `kind`."""
    return get_folders().model_path(kind, name)


def resolve_path(kind: str, name: str, *, subfolder: str = "", must_exist: bool = True) -> Path:
    """`Folders.resolve_path` on the configured folders: the one gate for outside names."""
    return get_folders().resolve_path(kind, name, subfolder=subfolder, must_exist=must_exist)


def missing_model_hint(kind: str) -> str:
    """Where to put a model of `kind` and what loads (for validation errors on an empty combo)."""
    return get_folders().missing_model_hint(kind)


#: Model kinds read by code other than a file-list combo (kind -> who reads it), see `declare_reader`.
_DECLARED_READERS: dict[str, list[str]] = {}


def declare_reader(kind: str, reader: str) -> None:
    """Note that `reader` (a node or a feature) reads files of model `kind` without a combo listing them.

    Loaders whose combo lists a model folder (`Choices(source=kind)`) need not call this: `folder_uses` finds
    them. Used for e.g. textual-inversion embeddings, which any text encoder reads from `embedding:NAME`.
    """
    canonical = LEGACY_KIND_NAMES.get(kind, kind)
    if canonical not in DEFAULT_MODEL_FOLDERS:
        raise UnknownFolderKindError(f"unknown model folder kind {kind!r}", kind=kind, name="")
    readers = _DECLARED_READERS.setdefault(canonical, [])
    if reader not in readers:
        readers.append(reader)


def folder_uses(registry: Iterable[Any]) -> dict[str, list[str]]:
    """Model kind -> the nodes (and declared readers) that read it, for node specs with `.inputs`.

    A node reads a kind when one of its inputs is a combo whose `Choices.source` is a model folder kind, so
    a new loader gets its folder created and documented without any list to update here.
    """
    uses: dict[str, list[str]] = {kind: list(readers) for kind, readers in _DECLARED_READERS.items()}
    for spec in registry:
        for item in getattr(spec, "inputs", ()):
            choices = getattr(item, "choices", None)
            source = LEGACY_KIND_NAMES.get(getattr(choices, "source", ""), getattr(choices, "source", ""))
            if source in DEFAULT_MODEL_FOLDERS:
                node_id = str(getattr(spec, "node_id", spec))
                if node_id not in uses.setdefault(source, []):
                    uses[source].append(node_id)
    return {kind: sorted(uses[kind]) for kind in DEFAULT_MODEL_FOLDERS if uses.get(kind)}


def hint_for_empty_choices(source: str) -> str | None:
    """The first-run hint for an empty combo whose `Choices.source` names a model folder kind, else None."""
    kind = LEGACY_KIND_NAMES.get(source, source)
    if kind not in get_folders().model_folders:
        return None
    return missing_model_hint(kind)


def list_input_files(extensions: Iterable[str] = IMAGE_EXTENSIONS) -> list[str]:
    """Files in input/ (recursive, '/'-separated), filtered by extension: LoadImage's combo."""
    return get_folders().list_files("input", extensions)


def split_annotated_name(name: str, default_kind: str = "input") -> tuple[str, str]:
    """ComfyUI's `"x.png [output]"` annotation -> ("output", "x.png"); unannotated names get `default_kind`."""
    match = re.fullmatch(r"(.*) \[(input|output|temp)\]", name, flags=re.DOTALL)
    if match:
        return match.group(2), match.group(1)
    return default_kind, name


# ---------------------------------------------------------------- output naming


@dataclass(frozen=True)
class SaveTarget:
    """Where a save node writes: `folder / f"{filename}_{counter:05}_.{ext}"`, the counter rising per file."""

    folder: Path
    filename: str
    counter: int
    #: The '/'-separated subfolder relative to the output folder ("" for none), as the ui output reports it.
    subfolder: str
    kind: str

    def file_name(self, counter: int, extension: str, batch_number: int = 0) -> str:
        """`{filename}_{counter:05}_.{extension}`, with ComfyUI's %batch_num% token replaced."""
        stem = self.filename.replace(BATCH_NUMBER_TOKEN, str(batch_number))
        return f"{stem}_{counter:05}_.{extension}"

    def write_new_file(self, data: bytes, extension: str, counter: int, batch_number: int = 0) -> tuple[str, int]:
        """Write `data` under the first free name from `counter` on; returns (file name, counter used).

        The file appears complete and never replaces an existing one, even when another process saves with
        the same prefix at the same moment (written aside, then hard-linked into place).
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.folder / f".{uuid.uuid4().hex}.partial"
        staging.write_bytes(data)
        try:
            while True:
                name = self.file_name(counter, extension, batch_number)
                try:
                    _publish(staging, self.folder / name, data)
                    return name, counter
                except FileExistsError:
                    counter += 1
        finally:
            staging.unlink(missing_ok=True)


def _publish(staging: Path, target: Path, data: bytes) -> None:
    """Put the staged file at `target` atomically, refusing to replace a file (FileExistsError)."""
    try:
        os.link(staging, target)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system: exclusive create instead
        with target.open("xb") as stream:
            stream.write(data)


#: SaveImage replaces this in each file name with the image's index in the batch.
BATCH_NUMBER_TOKEN = "%batch_num%"
_PREFIX_TOKENS = ("width", "height", "year", "month", "day", "hour", "minute", "second")


def expand_prefix_tokens(prefix: str, width: int, height: int, now: _dt.datetime | None = None) -> str:
    """Replace %width% %height% %year% %month% %day% %hour% %minute% %second% as ComfyUI's backend does."""
    moment = now or _dt.datetime.now()
    values = {
        "width": str(width),
        "height": str(height),
        "year": str(moment.year),
        "month": f"{moment.month:02}",
        "day": f"{moment.day:02}",
        "hour": f"{moment.hour:02}",
        "minute": f"{moment.minute:02}",
        "second": f"{moment.second:02}",
    }
    for token in _PREFIX_TOKENS:
        prefix = prefix.replace(f"%{token}%", values[token])
    return prefix


def save_target(
    filename_prefix: str, width: int = 0, height: int = 0, *, kind: str = "output", folders: Folders | None = None
) -> SaveTarget:
    """Plan output names for `filename_prefix` (which may name a subfolder that must stay inside the folder).

    The counter continues past existing `<prefix>_NNNNN…` files (case-insensitive), as ComfyUI's does.
    """
    folders = folders or get_folders()
    prefix = expand_prefix_tokens(filename_prefix, width, height)
    if not prefix:
        raise PathOutsideFolderError(f"empty filename prefix for the {kind} folder", kind=kind, name=filename_prefix)
    subfolder, _, filename = prefix.rpartition("/")
    if not filename:
        raise PathOutsideFolderError(
            f"filename prefix {filename_prefix!r} ends with '/': it names a folder but no file name",
            kind=kind,
            name=filename_prefix,
        )
    # The whole prefix is checked as a name, so `..`, absolute paths, drive letters and NUL are refused.
    _checked_relative(kind, filename, subfolder)
    root = folders.primary_folder(kind)
    target_dir = _contained(kind, filename_prefix, root, Path(subfolder) if subfolder else Path())
    counter = _next_counter(target_dir, filename)
    return SaveTarget(folder=target_dir, filename=filename, counter=counter, subfolder=subfolder, kind=kind)


def output_prefix_problem(filename_prefix: str, kind: str = "output") -> str | None:
    """Why `filename_prefix` may not name files in the `kind` folder, or None (checked at validation).

    The same rules as `save_target`, without touching the counter: no `..`, no absolute path or drive, no NUL,
    no folder-only prefix, and no subfolder that leads out of the folder through a symlink. The message names
    the folder by kind only, never by its path on the server.
    """
    prefix = expand_prefix_tokens(filename_prefix, 0, 0)
    if not prefix:
        return "the filename prefix is empty"
    subfolder, _, filename = prefix.rpartition("/")
    if not filename:
        return f"filename prefix {filename_prefix!r} ends with '/': it names a folder but no file name"
    try:
        relative = _checked_relative(kind, filename, subfolder)
    except PathOutsideFolderError as error:
        return f"{error}; a filename prefix must stay inside the {kind} folder"
    root = get_folders().primary_folder(kind).resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root):
        return f"filename prefix {filename_prefix!r} leads out of the {kind} folder through a symlink"
    return None


def _next_counter(folder: Path, filename: str) -> int:
    if not folder.is_dir():
        return 1
    stem = re.escape(filename.lower()).replace(re.escape(BATCH_NUMBER_TOKEN), r"\d+")
    pattern = re.compile(stem + r"_(\d+)")
    highest = 0
    for entry in os.listdir(folder):
        match = pattern.match(entry.lower())
        if match:
            highest = max(highest, int(match.group(1)))
    return highest + 1


# ---------------------------------------------------------------- fingerprints


# ---------------------------------------------------------------- extra_model_paths.yaml


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


# ---------------------------------------------------------------- name checks (the security gate)

_DRIVE = re.compile(r"^[A-Za-z]:")
#: Names Windows maps to devices whatever the extension ("nul.png" is the NUL device).
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)
#: Percent-encoded dot, slash, backslash, NUL or percent (double encoding): meant to sneak past a check.
_ENCODED = re.compile(r"%(25|2e|2f|5c|00)", flags=re.IGNORECASE)


def _checked_relative(kind: str, name: str, subfolder: str) -> Path:
    """Check the text of `subfolder/name` and return it as a relative Path; no file system access."""
    if not isinstance(name, str) or not isinstance(subfolder, str):
        raise PathOutsideFolderError(
            f"{_label(kind)} name must be a string, got {type(name).__name__}", kind=kind, name=str(name)
        )
    if not name:
        raise PathOutsideFolderError(f"empty {_label(kind)} name", kind=kind, name=name)
    parts: list[str] = []
    for role, text in (("subfolder", subfolder), ("name", name)):
        if not text:
            continue
        problem = _name_problem(text)
        if problem:
            raise PathOutsideFolderError(
                f"{_label(kind)} {role} {text!r} refused: {problem}", kind=kind, name=name
            )
        parts.extend(text.split("/"))
    return Path(*parts)


def _name_problem(text: str, windows: bool = os.name == "nt") -> str | None:
    """Why `text` is not a safe relative name, or None. `windows` adds that OS's own traps."""
    if "\x00" in text:
        return "it contains a NUL byte"
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        return "it contains a control character"
    if "\\" in text:
        suggestion = text.replace("\\", "/")
        return f"'\\' is not a folder separator here; names use '/' (e.g. {suggestion!r})"
    if _DRIVE.match(text):
        return "it starts with a drive letter; names are relative to their folder"
    if text.startswith("/"):
        return "it is an absolute path; names are relative to their folder"
    if _ENCODED.search(text):
        return "it contains a percent-encoded '.', '/', '\\', '%' or NUL"
    for part in text.split("/"):
        if part == "..":
            return "'..' would leave the folder"
        if part in ("", "."):
            return "it has an empty or '.' path component"
        if windows and ":" in part:
            return "':' names an alternate data stream or a drive on Windows"
        if windows and (part.split(".")[0].upper() in _WINDOWS_DEVICES or part.endswith((" ", "."))):
            return f"{part!r} is a device name or ends in a space or dot, which Windows does not keep"
    return None


def _contained(kind: str, name: str, folder: Path, relative: Path) -> Path:
    """`folder / relative` with symlinks resolved; refused unless it stays inside the resolved folder."""
    root = folder.resolve()
    candidate = (root / relative).resolve()
    if candidate != root and not candidate.is_relative_to(root):
        raise PathOutsideFolderError(
            f"{_label(kind)} {name!r} refused: it resolves (through a symlink) to a place outside {root}",
            kind=kind,
            name=name,
        )
    return candidate


def _walk_inside(folder: Path) -> Iterator[str]:
    """Relative names of the files under `folder` whose real path stays inside it (no symlink loops)."""
    if not folder.is_dir():
        return
    root = folder.resolve()
    seen: set[Path] = set()
    for directory, subdirectories, files in os.walk(root, followlinks=True):
        real = Path(directory).resolve()
        if real in seen or not (real == root or real.is_relative_to(root)):
            subdirectories[:] = []
            continue
        seen.add(real)
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        relative_dir = Path(directory).relative_to(root)
        for file_name in files:
            if file_name.startswith("."):
                continue
            path = Path(directory) / file_name
            resolved = path.resolve()
            if resolved.is_file() and resolved.is_relative_to(root):
                yield (relative_dir / file_name).as_posix()


def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _label(kind: str) -> str:
    canonical = LEGACY_KIND_NAMES.get(kind, kind)
    if canonical in IO_KINDS:
        return f"{canonical} file"
    return KIND_LABELS.get(canonical, f"{canonical} file")


def _absolute(path: Path | str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path))))
