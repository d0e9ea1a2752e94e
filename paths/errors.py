"""Why a name or a folder configuration was refused."""

from __future__ import annotations


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
