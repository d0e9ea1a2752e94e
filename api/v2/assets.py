"""Assets: the index of files by blake3 hash, their v2 JSON, job outputs as assets, and `core/ASSET` references.

Job outputs are indexed on first read under an id derived from (job, node, folder, name), so every surface
that reads a job (poll, SSE, a /prompt job read through v2) names an output by the same asset id without the
worker having to know about assets.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.v2.errors import V2Error
from api.v2.files import blake3_file, content_type_for, link_no_clobber, locate
from api.v2.records import AssetIndex, AssetRow, iso
from folders import IO_KINDS, Folders

#: Namespace of the derived ids of job outputs (uuid5 of "job/node/kind/name").
OUTPUT_NAMESPACE = uuid.UUID("5f0c7d2e-3b1a-4c8e-9d6f-0a1b2c3d4e5f")
#: Content URLs are served by this server under its normal auth; they do not expire, but the contract
#: requires an expiry, so one is reported this far ahead (the SDK treats it as informational).
URL_LIFETIME_SECONDS = 24 * 3600
ASSET_TYPE = "core/ASSET"
#: Inputs made from output/temp assets are copied here (the loaders read input/ only).
FROM_OUTPUTS_SUBFOLDER = "from-outputs"
#: Text outputs (PreviewAny) are written here, under temp/, to be served like files.
TEXT_SUBFOLDER = "v2-text"


@dataclass(frozen=True)
class MissingAsset:
    node_id: str
    class_type: str
    input: str
    asset_id: str | None
    reason: str

    def sentence(self) -> str:
        return f"Node {self.node_id} ({self.class_type}) input '{self.input}': {self.reason}"

    def details(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "class_type": self.class_type, "input": self.input,
                "asset_id": self.asset_id, "reason": self.reason}


def content_url(base_url: str, asset_id: str) -> str:
    return f"{base_url}/api/v2/assets/{asset_id}/content"


def shown_name(row: AssetRow) -> str:
    """The asset's `file_path`: the name a loader takes for inputs and models, `type/name` otherwise."""
    return row.name if row.kind == "input" or row.kind not in IO_KINDS else f"{row.kind}/{row.name}"


class Assets:
    """The asset operations the routes share."""

    def __init__(self, index: AssetIndex, folders: Folders) -> None:
        self.index = index
        self.folders = folders

    def to_json(self, row: AssetRow, base_url: str, created_new: bool | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": row.id,
            "hash": row.hash,
            "size_bytes": row.size,
            "content_type": row.content_type,
            "file_path": shown_name(row),
            "created_at": iso(row.created),
            "url": content_url(base_url, row.id),
            "url_expires_at": iso(time.time() + URL_LIFETIME_SECONDS),
            "expires_at": None,
        }
        if created_new is not None:
            body["created_new"] = created_new
        if row.job_id is not None:
            body["job_id"] = row.job_id
        return body

    def path_of(self, row: AssetRow) -> Path | None:
        return locate(self.folders, row.kind, row.name)

    def index_file(self, path: Path, kind: str, name: str, content_type: str | None) -> tuple[AssetRow, bool]:
        """Index a file that is in place: the existing asset for the same bytes at the same name, or a new one."""
        digest = blake3_file(path)
        for row in self.index.by_hash(digest):
            if row.kind == kind and row.name == name and row.job_id is None:
                return row, False
        row = AssetRow(str(uuid.uuid4()), digest, path.stat().st_size, content_type_for(content_type, name), kind,
                       name, time.time())
        return self.index.add(row), True

    def find_by_hash(self, digest: str) -> AssetRow | None:
        """The newest asset with these bytes whose file is still there and unchanged in size."""
        for row in self.index.by_hash(digest):
            path = self.path_of(row)
            if path is not None and path.stat().st_size == row.size:
                return row
        return None

    def output(self, job_id: str, node_id: str, kind: str, name: str) -> AssetRow | None:
        """The asset of one job output (indexed now if it is new); None when its file never existed."""
        asset_id = str(uuid.uuid5(OUTPUT_NAMESPACE, f"{job_id}/{node_id}/{kind}/{name}"))
        row = self.index.get(asset_id)
        if row is not None:
            return row
        path = locate(self.folders, kind, name)
        if path is None:
            return None
        row = AssetRow(asset_id, blake3_file(path), path.stat().st_size, content_type_for(None, name), kind, name,
                       time.time(), job_id, node_id)
        return self.index.add(row)

    def text_output(self, job_id: str, node_id: str, index: int, text: str) -> AssetRow:
        """Text a node showed, as an asset: written once to temp/ (rewritten if the temp folder was cleaned)."""
        asset_id = str(uuid.uuid5(OUTPUT_NAMESPACE, f"{job_id}/{node_id}/text/{index}"))
        name = f"{TEXT_SUBFOLDER}/{job_id}-{node_id}-{index}.txt"
        row = self.index.get(asset_id)
        target = self.folders.resolve_path("temp", name, must_exist=False)
        if row is None or not target.is_file():
            data = text.encode()
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            staged.write_bytes(data)
            staged.replace(target)
            if row is None:
                row = self.index.add(AssetRow(asset_id, blake3_file(target), len(data), "text/plain", "temp", name,
                                              time.time(), job_id, node_id))
        return row

    # -- core/ASSET references ------------------------------------------------------------------------

    def resolve_workflow(self, workflow: dict[str, Any]) -> tuple[dict[str, Any], list[MissingAsset]]:
        """The workflow with each `core/ASSET` reference replaced by the name its loader expects."""
        missing: list[MissingAsset] = []
        resolved: dict[str, Any] = {}
        for node_id, node in workflow.items():
            if not isinstance(node, dict) or not isinstance(node.get("inputs"), dict):
                resolved[node_id] = node
                continue
            class_type = str(node.get("class_type", ""))
            inputs = {
                name: self._resolve_value(value, str(node_id), class_type, name, missing)
                for name, value in node["inputs"].items()
            }
            resolved[node_id] = {**node, "inputs": inputs}
        return resolved, missing

    def _resolve_value(self, value: Any, node_id: str, class_type: str, input_name: str,
                       missing: list[MissingAsset]) -> Any:
        if isinstance(value, list):
            return [self._resolve_value(item, node_id, class_type, input_name, missing) for item in value]
        if not isinstance(value, dict) or value.get("__type") != ASSET_TYPE:
            return value
        info = value.get("info")
        asset_id = info.get("id") if isinstance(info, dict) else None
        if not isinstance(asset_id, str) or not asset_id:
            missing.append(MissingAsset(node_id, class_type, input_name, None,
                                        "a core/ASSET reference needs info.id (the asset's id)"))
            return value
        row = self.index.get(asset_id) if _is_uuid(asset_id) else None
        if row is None:
            missing.append(MissingAsset(node_id, class_type, input_name, asset_id[:80],
                                        f"asset {asset_id[:80]!r} does not exist"))
            return value
        path = self.path_of(row)
        if path is None:
            missing.append(MissingAsset(node_id, class_type, input_name, asset_id,
                                        f"the file of asset {asset_id} is no longer there"))
            return value
        return self._loader_name(row, path)

    def _loader_name(self, row: AssetRow, path: Path) -> str:
        """Inputs and models are referenced by their name; outputs are first copied into input/."""
        if row.kind not in ("output", "temp"):
            return row.name
        source = Path(row.name)
        name = f"{FROM_OUTPUTS_SUBFOLDER}/{source.stem}-{row.hash.removeprefix('blake3:')[:16]}{source.suffix}"
        target = self.folders.resolve_path("input", name, must_exist=False)
        if not target.is_file():
            staged = target.parent / f".v2-copy-{uuid.uuid4().hex}.tmp"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, staged)
            try:
                link_no_clobber(staged, target)
            except FileExistsError:
                raise V2Error(409, "file_exists", f"input {name!r} exists with different content") from None
        return name


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
