"""Where files live: the base directory, model folders, input/output/temp/user, and safe name resolution.

Layout and flags follow ComfyUI (`folder_paths.py`), so an existing ComfyUI tree and its
`extra_model_paths.yaml` work unchanged. Every name that arrives from outside (a widget value, an upload name,
a `/view` subfolder) goes through `resolve_path`, which resolves symlinks and refuses anything that ends up
outside its folder. Names are always '/'-separated and relative ("sdxl/base.safetensors"), on every OS.

    configure(base_directory=Path("/data/loom"))
    list_model_files("checkpoints")            # ["sd15.safetensors", "sdxl/base.safetensors"]
    model_path("checkpoints", "sd15.safetensors")
    resolve_path("output", "x.png", subfolder="sub")

The layers below live in `paths/` (kinds, errors, the name checks, extra_model_paths.yaml, output naming); this
module is their public face and re-exports what callers use (`folders.FolderError`, `folders.SaveTarget`, ...).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paths.errors import ExtraModelPathsError as ExtraModelPathsError  # re-exported: folders is the public face
from paths.errors import FileNotFoundInFolderError as FileNotFoundInFolderError
from paths.errors import FolderError as FolderError
from paths.errors import PathOutsideFolderError as PathOutsideFolderError
from paths.errors import UnknownFolderKindError as UnknownFolderKindError
from paths.extra_model_paths import read_extra_model_paths
from paths.kinds import DEFAULT_MODEL_FOLDERS as DEFAULT_MODEL_FOLDERS
from paths.kinds import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS
from paths.kinds import IO_KINDS as IO_KINDS
from paths.kinds import KIND_EXTENSIONS as KIND_EXTENSIONS
from paths.kinds import KIND_LABELS as KIND_LABELS
from paths.kinds import LATENT_EXTENSIONS as LATENT_EXTENSIONS
from paths.kinds import LEGACY_KIND_NAMES as LEGACY_KIND_NAMES
from paths.kinds import MODEL_EXTENSIONS as MODEL_EXTENSIONS
from paths.kinds import OUTPUT_MODEL_SUBFOLDERS as OUTPUT_MODEL_SUBFOLDERS
from paths.kinds import label
from paths.names import checked_relative, contained, walk_inside
from paths.outputs import BATCH_NUMBER_TOKEN as BATCH_NUMBER_TOKEN
from paths.outputs import SaveTarget as SaveTarget
from paths.outputs import expand_prefix_tokens as expand_prefix_tokens
from paths.outputs import next_counter

#: The repository root: the default base directory (ComfyUI's default is its own folder too).
REPO_ROOT = Path(__file__).resolve().parent

#: The model families the loaders understand (diffusion.types.Family), for the first-run message.
LOADABLE_FAMILIES = "SD 1.x, SD 2.x (epsilon and v-prediction), SDXL base and SDXL refiner"
DEMO_MODEL_COMMAND = "python server.py demo-model"
#: The image the shipped templates load (img2img, inpaint, ControlNet); its transparent patch is inpaint's mask.
EXAMPLE_INPUT_IMAGE = REPO_ROOT / "workflows" / "example.png"


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
            for name in walk_inside(folder):
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
        relative = checked_relative(kind, name, subfolder)
        folders = self.folders_for(kind)
        for folder in folders:
            candidate = contained(kind, name, folder, relative)
            if candidate.is_file():
                return candidate
        if must_exist:
            looked_in = ", ".join(str(folder) for folder in folders)
            shown = f"{subfolder}/{name}" if subfolder else name
            raise FileNotFoundInFolderError(
                f"{label(kind)} {shown!r} does not exist (looked in {looked_in})", kind=kind, name=name
            )
        return contained(kind, name, folders[0], relative)

    def model_path(self, kind: str, name: str) -> Path:
        """The file a loader should open for widget value `name` of `kind` (must exist)."""
        return self.resolve_path(kind, name)

    def missing_model_hint(self, kind: str) -> str:
        """A newcomer's message for an empty model folder: where to put files and what loads."""
        what = label(kind)
        folder = self.primary_folder(kind)
        if LEGACY_KIND_NAMES.get(kind, kind) == "checkpoints":
            return (
                f"No checkpoint found. Put a checkpoint file (.safetensors, or .ckpt) into {folder}/ "
                f"(or a folder listed in extra_model_paths.yaml) and reload. Families that load: "
                f"{LOADABLE_FAMILIES}. To try the pipeline without downloading anything, run "
                f"`{DEMO_MODEL_COMMAND}`: it writes a tiny random-weight checkpoint that draws noise."
            )
        return f"No {what} file found. Put one into {folder}/ (or a folder listed in extra_model_paths.yaml)."

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
    checked_relative(kind, filename, subfolder)
    root = folders.primary_folder(kind)
    target_dir = contained(kind, filename_prefix, root, Path(subfolder) if subfolder else Path())
    counter = next_counter(target_dir, filename)
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
        relative = checked_relative(kind, filename, subfolder)
    except PathOutsideFolderError as error:
        return f"{error}; a filename prefix must stay inside the {kind} folder"
    root = get_folders().primary_folder(kind).resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root):
        return f"filename prefix {filename_prefix!r} leads out of the {kind} folder through a symlink"
    return None





def _suffix(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _absolute(path: Path | str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path))))
