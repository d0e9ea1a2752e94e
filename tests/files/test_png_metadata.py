"""PNG metadata as ComfyUI writes it: chunk names, JSON, Latin-1 tEXt, and reading workflows back."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from imaging.png_metadata import PngMetadataError, read_png_text, save_png, workflow_from_png

PROMPT = {"3": {"class_type": "KSampler", "inputs": {"seed": 5, "model": ["4", 0]}}, "9": {"class_type": "SaveImage",
          "inputs": {"images": ["8", 0], "filename_prefix": "Ünïcode ☃"}}}
WORKFLOW = {"last_node_id": 9, "nodes": [{"id": 9, "type": "SaveImage", "title": "Sävé"}], "version": 0.4}


def png_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """The raw (type, data) chunks of a PNG file."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8]
        chunks.append((kind, data[offset + 8 : offset + 8 + length]))
        offset += 12 + length
    return chunks


def test_chunks_are_exactly_comfyui_s(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    save_png(Image.new("RGB", (4, 4), "red"), path, prompt=PROMPT, extra_pnginfo={"workflow": WORKFLOW})
    text_chunks = [(kind, body) for kind, body in png_chunks(path) if kind in (b"tEXt", b"iTXt", b"zTXt")]
    # tEXt only (json.dumps escapes non-ASCII), prompt first, then workflow; keyword NUL value.
    assert [kind for kind, _ in text_chunks] == [b"tEXt", b"tEXt"]
    assert text_chunks[0][1] == b"prompt\x00" + json.dumps(PROMPT).encode("latin-1")
    assert text_chunks[1][1] == b"workflow\x00" + json.dumps(WORKFLOW).encode("latin-1")
    assert "\\u00dc" in text_chunks[0][1].decode("latin-1")


def test_same_bytes_as_pillow_with_comfyui_s_recipe(tmp_path: Path) -> None:
    """What ComfyUI's SaveImage does with Pillow: PngInfo.add_text per key, compress_level=4."""
    image = Image.new("RGB", (8, 8), (10, 200, 30))
    ours, theirs = tmp_path / "ours.png", tmp_path / "theirs.png"
    save_png(image, ours, prompt=PROMPT, extra_pnginfo={"workflow": WORKFLOW})
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(PROMPT))
    info.add_text("workflow", json.dumps(WORKFLOW))
    image.save(theirs, pnginfo=info, compress_level=4)
    assert ours.read_bytes() == theirs.read_bytes()


def test_round_trip_reads_the_workflow_back(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    save_png(Image.new("RGB", (4, 4)), path, prompt=PROMPT, extra_pnginfo={"workflow": WORKFLOW, "extra": [1]})
    assert read_png_text(path) == {
        "prompt": json.dumps(PROMPT),
        "workflow": json.dumps(WORKFLOW),
        "extra": "[1]",
    }
    assert workflow_from_png(path) == PROMPT
    assert workflow_from_png(path, prefer="workflow") == WORKFLOW
    assert workflow_from_png(path.read_bytes()) == PROMPT


def test_fallback_to_the_other_chunk(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    save_png(Image.new("RGB", (4, 4)), path, extra_pnginfo={"workflow": WORKFLOW})
    assert workflow_from_png(path) == WORKFLOW


def test_no_metadata_writes_no_text_chunks(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    save_png(Image.new("RGB", (4, 4)), path)
    assert not [kind for kind, _ in png_chunks(path) if kind.endswith(b"Xt")]
    with pytest.raises(PngMetadataError, match="carries no workflow"):
        workflow_from_png(path)


def test_chunk_after_image_data_is_read(tmp_path: Path) -> None:
    """Some tools write text chunks after IDAT; Pillow needs load() to see them."""
    path = tmp_path / "late.png"
    Image.new("RGB", (2, 2)).save(path)
    data = path.read_bytes()
    body = b"prompt\x00" + json.dumps(PROMPT).encode()
    chunk = len(body).to_bytes(4, "big") + b"tEXt" + body + zlib.crc32(b"tEXt" + body).to_bytes(4, "big")
    iend = data.rindex(b"IEND") - 4
    path.write_bytes(data[:iend] + chunk + data[iend:])
    assert workflow_from_png(path) == PROMPT


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"GIF89a....", "not a PNG"), (b"\x89PNG\r\n\x1a\ngarbage", "cannot read PNG chunks")],
)
def test_bad_files_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(PngMetadataError, match=message) as caught:
        workflow_from_png(path)
    assert "bad.png" in str(caught.value)


def test_invalid_json_chunk(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", "{not json")
    Image.new("RGB", (2, 2)).save(path, pnginfo=info)
    with pytest.raises(PngMetadataError, match="'prompt' chunk is not valid JSON"):
        workflow_from_png(path)
