"""design-anchors §C4 items 1–5, 26 (submission) and 29–41 (files and static serving) against a real server."""

from __future__ import annotations

import io
import os
import threading
import uuid

import pytest
from PIL import Image

from tests.api.server_harness import Reply, Server, chain, png_bytes, upload


def _alive(server: Server) -> None:
    assert server.request("GET", "/api/features").status == 200


def _no_traceback(reply: Reply) -> None:
    assert b"Traceback" not in reply.body and b'File "' not in reply.body


# -- submission ------------------------------------------------------------------------------------------


def test_body_not_json_is_400_invalid_json(server: Server) -> None:
    reply = server.request("POST", "/api/prompt", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert reply.status == 400 and reply.json()["error"]["type"] == "invalid_json"
    _no_traceback(reply)
    _alive(server)


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42"])
def test_top_level_not_an_object(server: Server, body: bytes) -> None:
    reply = server.request("POST", "/api/prompt", raw=body, headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert "object" in reply.json()["error"]["message"]


def test_body_over_limit_is_413_before_parsing(server: Server) -> None:
    reply = server.request("POST", "/api/prompt", raw=b"{" + b" " * (9 * 1024 * 1024) + b"}",
                           headers={"Content-Type": "application/json"})
    assert reply.status == 413
    _alive(server)


def test_deep_nesting_is_400(server: Server) -> None:
    deep = b'{"prompt": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    reply = server.request("POST", "/api/prompt", raw=deep, headers={"Content-Type": "application/json"})
    assert reply.status == 400
    _no_traceback(reply)


def test_duplicate_keys_are_400(server: Server) -> None:
    raw = (b'{"prompt": {"3": {"class_type": "StubNumber", "inputs": {"value": 1}},'
           b' "3": {"class_type": "StubNumber", "inputs": {"value": 2}}}}')
    reply = server.request("POST", "/api/prompt", raw=raw, headers={"Content-Type": "application/json"})
    assert reply.status == 400 and "duplicate" in reply.json()["error"]["message"]


def test_nan_is_400(server: Server) -> None:
    raw = b'{"prompt": {"1": {"class_type": "StubNumber", "inputs": {"value": NaN}}}}'
    reply = server.request("POST", "/api/prompt", raw=raw, headers={"Content-Type": "application/json"})
    assert reply.status == 400


def test_missing_prompt_is_no_prompt(server: Server) -> None:
    reply = server.request("POST", "/prompt", {"client_id": "x"})
    assert reply.status == 400 and reply.json()["error"]["type"] == "no_prompt"


def test_unknown_node_type_and_missing_class_type_queue_nothing(server: Server) -> None:
    before = server.request("GET", "/api/jobs?limit=10000").json()["jobs"]
    unknown = server.post_prompt({"7": {"class_type": "NoSuchNode", "inputs": {}}})
    assert unknown.status == 400 and "NoSuchNode" in unknown.body.decode()
    no_type = server.post_prompt({"7": {"inputs": {}}})
    assert no_type.status == 400 and "7" in no_type.body.decode()
    invalid = server.post_prompt({**chain(), "2": {**chain()["2"], "inputs": {**chain()["2"]["inputs"], "steps": 0}}})
    assert invalid.status == 400 and "2" in invalid.json()["node_errors"]
    assert server.request("GET", "/api/jobs?limit=10000").json()["jobs"] == before


@pytest.mark.parametrize("number", [float("nan"), 1e300, "5", True, [1]])
def test_bad_priority_is_400_and_queue_unaffected(server: Server, number: object) -> None:
    import json

    raw = json.dumps({"prompt": chain(), "number": number}, allow_nan=True).encode()
    reply = server.request("POST", "/prompt", raw=raw, headers={"Content-Type": "application/json"})
    assert reply.status == 400
    assert server.request("GET", "/queue").json()["queue_pending"] == []


@pytest.mark.parametrize("query", ["max_items=abc", "max_items=-1", "offset=x", "max_items=1e3"])
def test_bad_history_paging_is_400(server: Server, query: str) -> None:
    assert server.request("GET", f"/history?{query}").status == 400


def test_bad_field_types_are_400(server: Server) -> None:
    assert server.post_prompt(chain(), front="yes").status == 400
    assert server.post_prompt(chain(), extra_data=[1]).status == 400
    assert server.post_prompt(chain(), partial_execution_targets="3").status == 400
    assert server.post_prompt(chain(), prompt_id="").status == 400
    assert server.request("POST", "/queue", {"delete": "abc"}).status == 400
    assert server.request("POST", "/free", {"unload_models": "yes"}).status == 400


def test_duplicate_prompt_id_is_refused(server: Server) -> None:
    chosen = str(uuid.uuid4())
    assert server.post_prompt(chain(), prompt_id=chosen).json()["prompt_id"] == chosen
    assert server.post_prompt(chain(), prompt_id=chosen).status == 409
    server.wait_job(chosen)


# -- /view -----------------------------------------------------------------------------------------------


def _put_output(server: Server, name: str, data: bytes) -> None:
    folder = server.base / "output"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


@pytest.mark.parametrize("filename", ["../../etc/passwd", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd"])
def test_view_traversal_in_filename(server: Server, filename: str) -> None:
    reply = server.request("GET", f"/view?filename={filename}&type=output")
    assert reply.status in (400, 404)
    assert b"root:" not in reply.body


@pytest.mark.parametrize("subfolder", ["../..", "/etc", "..", "a/../../b"])
def test_view_traversal_in_subfolder_is_403(server: Server, subfolder: str) -> None:
    reply = server.request("GET", f"/view?filename=passwd&subfolder={subfolder}&type=output")
    assert reply.status == 403


@pytest.mark.parametrize("filename", ["..\\..\\etc\\passwd", "C:\\windows\\win.ini", "%2e%2e%2fetc%2fpasswd",
                                      "%252e%252e%252fetc"])
def test_view_backslash_drive_and_encodings(server: Server, filename: str) -> None:
    from urllib.parse import quote

    reply = server.request("GET", f"/view?filename={quote(filename)}&type=output")
    assert 400 <= reply.status < 500


def test_view_symlink_leading_outside_is_404(server: Server, tmp_path: object) -> None:
    folder = server.base / "output"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "escape.png"
    if not link.exists():
        os.symlink("/etc/passwd", link)
    reply = server.request("GET", "/view?filename=escape.png&type=output")
    assert reply.status == 404 and b"root:" not in reply.body
    (folder / "dirlink").unlink(missing_ok=True)
    os.symlink("/etc", folder / "dirlink")
    reply = server.request("GET", "/view?filename=passwd&subfolder=dirlink&type=output")
    assert reply.status in (403, 404) and b"root:" not in reply.body


@pytest.mark.parametrize("name", ["page.html", "icon.svg", "page.xhtml", "code.js"])
def test_view_dangerous_types_are_attachments(server: Server, name: str) -> None:
    _put_output(server, name, b"<script>alert(1)</script>")
    reply = server.request("GET", f"/view?filename={name}&type=output")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert reply.headers["Content-Disposition"].startswith("attachment;")
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


def test_view_bad_type_is_400(server: Server) -> None:
    assert server.request("GET", "/view?filename=x.png&type=bogus").status == 400
    assert server.request("GET", "/view?filename=latent_loom/jobs.sqlite3&type=user").status == 400
    assert server.request("GET", "/view?type=output").status == 400


def test_view_preview_and_channel(server: Server) -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (4, 4), (10, 20, 30, 128)).save(buffer, format="PNG")
    _put_output(server, "alpha.png", buffer.getvalue())
    webp = server.request("GET", "/view?filename=alpha.png&type=output&preview=webp;50")
    assert webp.status == 200 and webp.headers["Content-Type"] == "image/webp"
    alpha = server.request("GET", "/view?filename=alpha.png&type=output&channel=a")
    assert Image.open(io.BytesIO(alpha.body)).getpixel((0, 0)) == 128


# -- uploads ---------------------------------------------------------------------------------------------


def test_upload_and_view_round_trip(server: Server) -> None:
    reply = upload(server, "roundtrip.png", png_bytes())
    assert reply.status == 200
    assert reply.json() == {"name": "roundtrip.png", "subfolder": "", "type": "input"}
    view = server.request("GET", "/view?filename=roundtrip.png&type=input")
    assert view.body == png_bytes()


@pytest.mark.parametrize("filename,stored", [("../up1.png", "up1.png"), ("a/b/up2.png", "up2.png"),
                                             ("..\\..\\up3.png", "up3.png")])
def test_upload_names_are_reduced_to_basenames(server: Server, filename: str, stored: str) -> None:
    reply = upload(server, filename, png_bytes())
    if "\\" in filename and reply.status == 400:
        return  # multipart unescapes backslashes to "....up3.png": a hidden-looking name, refused
    assert reply.status == 200 and reply.json()["name"] == stored
    assert (server.base / "input" / stored).is_file()
    assert not (server.base / stored).exists()


def test_upload_empty_name_rejected(server: Server) -> None:
    assert upload(server, "", png_bytes()).status == 400


def test_upload_bad_subfolder_rejected(server: Server) -> None:
    assert upload(server, "x.png", png_bytes(), subfolder="../..").status == 400
    assert upload(server, "x.png", png_bytes(), type="bogus").status == 400


def test_upload_non_image_named_png_is_415(server: Server) -> None:
    reply = upload(server, "fake.png", b"<html><script>alert(1)</script></html>")
    assert reply.status == 415
    assert not (server.base / "input" / "fake.png").exists()
    assert upload(server, "page.html", png_bytes()).status == 415


def test_upload_decompression_bomb_is_413(server: Server) -> None:
    # A valid PNG header claiming 100k x 100k pixels: refused from the header, never decoded.
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
    bomb = b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")
    reply = upload(server, "bomb.png", bomb)
    assert reply.status == 413
    assert not (server.base / "input" / "bomb.png").exists()


def test_upload_odd_names_stored_safely(server: Server) -> None:
    reply = upload(server, 'q"uo<script>te.png', png_bytes())
    assert reply.status == 200
    name = reply.json()["name"]
    view = server.request("GET", f"/view?filename={__import__('urllib.parse').parse.quote(name)}&type=input")
    disposition = view.headers["Content-Disposition"]
    assert "<script>" not in disposition.split("filename*=")[0].replace('q_uo<script>', '')
    assert "\r" not in disposition and "\n" not in disposition
    assert "filename*=UTF-8''" in disposition


def test_concurrent_same_name_uploads_get_distinct_files(server: Server) -> None:
    results: list[Reply] = []
    datas = [png_bytes(color=(i, i, i)) for i in range(6)]

    def send(data: bytes) -> None:
        results.append(upload(server, "same.png", data))

    threads = [threading.Thread(target=send, args=(data,)) for data in datas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = {reply.json()["name"] for reply in results}
    assert len(names) == len(datas)
    stored = {(server.base / "input" / name).read_bytes() for name in names}
    assert stored == set(datas)


def test_upload_same_content_is_deduplicated_and_overwrite_replaces(server: Server) -> None:
    first = upload(server, "dedupe.png", png_bytes(color=(9, 9, 9))).json()["name"]
    again = upload(server, "dedupe.png", png_bytes(color=(9, 9, 9))).json()["name"]
    assert first == again == "dedupe.png"
    other = upload(server, "dedupe.png", png_bytes(color=(8, 8, 8))).json()["name"]
    assert other == "dedupe (1).png"
    replaced = upload(server, "dedupe.png", png_bytes(color=(7, 7, 7)), overwrite="true").json()["name"]
    assert replaced == "dedupe.png"
    assert (server.base / "input" / "dedupe.png").read_bytes() == png_bytes(color=(7, 7, 7))


def test_upload_mask_keeps_original_and_applies_alpha(server: Server) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", '{"a": 1}')
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 100, 50)).save(buffer, format="PNG", pnginfo=info)
    upload(server, "masked_original.png", buffer.getvalue(), overwrite="true")
    mask = io.BytesIO()
    Image.new("RGBA", (4, 4), (0, 0, 0, 77)).save(mask, format="PNG")
    import json

    reply = upload(server, "masked.png", mask.getvalue(), "/upload/mask", overwrite="true",
                   original_ref=json.dumps({"filename": "masked_original.png", "subfolder": "", "type": "input"}))
    assert reply.status == 200, reply.body
    with Image.open(server.base / "input" / reply.json()["name"]) as result:
        assert result.getpixel((0, 0)) == (200, 100, 50, 77)
        assert result.info.get("prompt") == '{"a": 1}'


# -- static files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
                                  "/web/../../../etc/passwd"])
def test_static_traversal_is_404(server: Server, path: str) -> None:
    reply = server.request("GET", path)
    assert reply.status in (400, 403, 404)
    assert b"root:" not in reply.body
