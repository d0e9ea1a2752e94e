"""The one strict JSON reader and the one file fingerprint (both shared by the API, the CLI and the engine)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from graph.fingerprint import file_fingerprint
from graph.strict_json import JsonError, loads_strict
from graph.workflow import json_type


def test_depth_is_counted_over_brackets_outside_strings_only() -> None:
    assert loads_strict("[" * 3 + "]" * 3, max_depth=3) == [[[]]]
    with pytest.raises(JsonError, match="nested deeper than 3 levels"):
        loads_strict("[" * 4 + "]" * 4, max_depth=3)
    assert loads_strict('[["[[[["], {"a": "{{{{"}]', max_depth=2) == [["[[[["], {"a": "{{{{"}]
    assert loads_strict('[[1], [2], [3], [4], {"k": [5]}]', max_depth=3) == [[1], [2], [3], [4], {"k": [5]}]
    assert loads_strict('["\\"[[[[", {}]', max_depth=2) == ['"[[[[', {}]  # an escaped quote does not end a string


def test_errors_say_what_is_wrong_and_keep_the_decoders_detail() -> None:
    with pytest.raises(JsonError) as invalid:
        loads_strict("{nope")
    assert invalid.value.message == "the document is not valid JSON" and "Expecting" in invalid.value.detail
    with pytest.raises(JsonError) as encoding:
        loads_strict(b"\xff")
    assert encoding.value.message == "the document is not UTF-8 text" and "utf-8" in encoding.value.detail
    with pytest.raises(JsonError, match="Infinity is not valid JSON"):
        loads_strict("[Infinity]")
    assert loads_strict("[Infinity]", non_finite=True) == [float("inf")]
    assert str(JsonError("m", "d")) == "m"


def test_json_type_names_every_decoded_type() -> None:
    values: list[object] = [None, {}, [], "s", True, 1, 1.5]
    assert [json_type(value) for value in values] == [
        "null", "an object", "an array", "a string", "a boolean", "a number", "a number",
    ]  # fmt: skip
    assert json_type(b"") == "bytes"


def test_the_fingerprint_is_the_files_identity_and_version_or_its_content(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    stat = os.stat(path)
    assert file_fingerprint(path) == f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"
    content = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc")
    assert file_fingerprint(path, content_hash=True) == content
    assert file_fingerprint(str(path), content_hash=True) == content  # memoised, same answer
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert file_fingerprint(path) != f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"
    path.write_bytes(b"abd")
    assert file_fingerprint(path, content_hash=True) != content
