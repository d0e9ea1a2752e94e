"""Output file names as ComfyUI makes them (`prefix_00001_.png`, %width%-style tokens) and race-free writing."""

from __future__ import annotations

import datetime as _dt
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path


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
                    publish(staging, self.folder / name, data)
                    return name, counter
                except FileExistsError:
                    counter += 1
        finally:
            staging.unlink(missing_ok=True)


def publish(staging: Path, target: Path, data: bytes) -> None:
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


def next_counter(folder: Path, filename: str) -> int:
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
