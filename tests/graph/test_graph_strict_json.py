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


def test_short_forms_of_values_for_messages() -> None:
    from graph.executor import describe_input
    from graph.workflow import short_repr

    assert short_repr("abc") == "'abc'" and short_repr(None) == "None" and short_repr(3) == "3"
    assert short_repr("x" * 81) == repr("x" * 80) + "… (81 characters)"
    assert short_repr("x" * 80) == repr("x" * 80)[:80] + "…"  # the quotes make it 82 long
    assert short_repr("x" * 5, limit=4) == repr("x" * 4) + "… (5 characters)"
    assert short_repr(list(range(63))).startswith("[0, 1, 2") and short_repr(list(range(63))).endswith("…")
    assert short_repr(list(range(64))) == "<list of 64 items>"
    assert short_repr({str(i): i for i in range(64)}) == "<dict of 64 items>"
    assert short_repr([1, 2]) == "[1, 2]" and len(short_repr(list(range(30)))) == 81

    class Tensorish:
        shape = (1, 4, 8, 8)
        dtype = "float16"

    class Shapeless:
        shape = (2,)

    assert describe_input(Tensorish()) == "Tensorish(shape=(1, 4, 8, 8), dtype=float16)"
    assert describe_input(Shapeless()) == "Shapeless(shape=(2,), dtype=?)"
    assert describe_input(Tensorish) == short_repr(Tensorish, 200)  # a class is not a tensor
    expected = "{'samples': Tensorish(shape=(1, 4, 8, 8), dtype=float16), 'n': 1}"
    assert describe_input({"samples": Tensorish(), "n": 1}) == expected
    many = describe_input({f"k{i}": i for i in range(10)})
    assert many.count(":") == 8 and many.endswith("'k7': 7}")
    assert describe_input("y" * 300) == repr("y" * 200) + "… (300 characters)"
