"""Reading model files safely: content sniffing, safetensors header checks, memory mapping.

* ``.safetensors`` (by content, whatever the extension): the header is validated before any tensor
  is touched (length, JSON, dtypes, shapes, offsets inside the data, no overlaps), then tensors
  are views into a private (copy-on-write) memory map: no second copy of the weights.
* PyTorch zip/pickle files: ``torch.load(weights_only=True)`` only; a pickle that needs
  arbitrary code is refused, its payload never runs.
Every error is a :class:`ModelFileError` that names the file.
"""

from __future__ import annotations

import json
import math
import mmap
import pickle
from pathlib import Path

import torch

MAX_HEADER_BYTES = 100 * 1024 * 1024

_SAFETENSORS_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}


class MappedTensors(dict[str, torch.Tensor]):
    """Tensors that are views into one memory map; ``release`` lets the OS drop a tensor's pages.

    Used after a tensor has been copied (for example fp16 -> fp32), so that the file pages and the
    copy are not both resident: peak memory stays near the size of the converted weights.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], data: mmap.mmap, spans: dict[str, tuple[int, int]]):
        super().__init__(tensors)
        self._data = data
        self._spans = spans

    def release(self, key: str) -> None:
        """Advise the kernel that ``key``'s bytes are no longer needed (whole pages inside it only)."""
        span = self._spans.get(key)
        if span is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        start = -(-span[0] // mmap.PAGESIZE) * mmap.PAGESIZE
        end = span[1] // mmap.PAGESIZE * mmap.PAGESIZE
        if end > start:
            self._data.madvise(mmap.MADV_DONTNEED, start, end - start)


class ModelFileError(ValueError):
    """A model file that cannot be read safely; the message names the file and what is wrong."""


def _fail(path: Path, why: str) -> ModelFileError:
    return ModelFileError(f"{path}: {why}")


def sniff_format(path: Path) -> str:
    """``"safetensors"``, ``"torch_zip"`` or ``"pickle"`` by the first bytes; anything else is an error."""
    try:
        with path.open("rb") as f:
            head = f.read(9)
    except OSError as exc:
        raise _fail(path, f"cannot read the file ({exc.strerror})") from exc
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "torch_zip"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    raise _fail(path, f"not a safetensors or PyTorch checkpoint (starts with {head[:8]!r})")


def _parse_header(path: Path, data: mmap.mmap, size: int) -> tuple[dict[str, dict[str, object]], int]:
    if size < 8:
        raise _fail(path, "truncated: shorter than a safetensors header length")
    header_len = int.from_bytes(data[:8], "little")
    if header_len > MAX_HEADER_BYTES:
        raise _fail(path, f"safetensors header of {header_len} bytes is above the {MAX_HEADER_BYTES} byte limit")
    if header_len > size - 8:
        raise _fail(path, f"safetensors header length {header_len} is larger than the file ({size} bytes)")
    try:
        header = json.loads(bytes(data[8 : 8 + header_len]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"safetensors header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise _fail(path, "safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    return header, 8 + header_len


def _check_entry(path: Path, name: str, entry: object, data_size: int) -> tuple[torch.dtype, list[int], int, int]:
    if not isinstance(entry, dict):
        raise _fail(path, f"tensor {name!r}: header entry is not an object")
    dtype = _SAFETENSORS_DTYPES.get(str(entry.get("dtype")))
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if dtype is None:
        raise _fail(path, f"tensor {name!r}: unsupported dtype {entry.get('dtype')!r}")
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise _fail(path, f"tensor {name!r}: bad shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        raise _fail(path, f"tensor {name!r}: bad data_offsets {offsets!r}")
    start, end = offsets
    nbytes = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    if not 0 <= start <= end or end - start != nbytes:
        raise _fail(path, f"tensor {name!r}: offsets {offsets} do not fit shape {shape} of {entry['dtype']}")
    if end > data_size:
        raise _fail(path, f"truncated: tensor {name!r} ends at byte {end} of a {data_size}-byte data section")
    return dtype, shape, start, end


def read_safetensors(path: Path) -> MappedTensors:
    """Validate and memory-map a safetensors file; tensors share the (copy-on-write) mapping."""
    try:
        with path.open("rb") as f:
            size = path.stat().st_size
            if size == 0:
                raise _fail(path, "empty file")
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    except OSError as exc:
        raise _fail(path, f"cannot read the file ({exc.strerror})") from exc
    header, base = _parse_header(path, data, size)
    data_size = size - base
    entries = {name: _check_entry(path, name, entry, data_size) for name, entry in header.items()}
    previous_end, previous_name = 0, ""
    for name, (_, _, start, end) in sorted(entries.items(), key=lambda item: item[1][2:]):
        if start < previous_end:
            raise _fail(path, f"tensors {previous_name!r} and {name!r} overlap")
        if end > start:
            previous_end, previous_name = end, name
    tensors: dict[str, torch.Tensor] = {}
    spans: dict[str, tuple[int, int]] = {}
    for name, (dtype, shape, start, end) in entries.items():
        if end == start:
            tensors[name] = torch.empty(shape, dtype=dtype)
            continue
        flat = torch.frombuffer(data, dtype=torch.uint8, count=end - start, offset=base + start)
        tensors[name] = flat.view(dtype).reshape(shape)
        spans[name] = (base + start, base + end)
    return MappedTensors(tensors, data, spans)


def load_torch_object(path: Path) -> object:
    """``torch.load(weights_only=True)`` with every failure turned into a :class:`ModelFileError`."""
    try:
        # A file object, not the path: torch.load picks a loader by file extension otherwise.
        with path.open("rb") as f:
            loaded = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(path, f"refused: the pickle needs more than plain tensors to load ({first_line})") from exc
    except Exception as exc:  # any other failure of an untrusted file is a clean refusal
        raise _fail(path, f"cannot read the PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc
    return loaded


def read_torch_file(path: Path) -> dict[str, torch.Tensor]:
    """Load a ``.ckpt``/``.pt`` with ``weights_only=True``; unwrap ``state_dict``; refuse anything else."""
    loaded = load_torch_object(path)
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise _fail(path, f"expected a dict of tensors, found {type(loaded).__name__}")
    tensors = {k: v for k, v in loaded.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise _fail(path, "holds no tensors")
    return tensors


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a model file, chosen by content (not by extension)."""
    path = Path(path)
    if path.is_dir():
        raise _fail(path, "is a directory, expected a model file")
    kind = sniff_format(path)
    if kind == "safetensors":
        return read_safetensors(path)
    return read_torch_file(path)
