"""design-anchors §C4 items 42–52: cross-site refusal, DNS rebinding, tokens, CORS, startup refusals, leaks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.api.server_harness import REPO, Server, chain, png_bytes, upload

TOKEN = "s3cret-token-for-the-tests-0123456789"


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1", "http://localhost.evil"])
def test_foreign_or_null_origin_is_403(server: Server, origin: str) -> None:
    reply = server.request("POST", "/api/prompt", {"prompt": chain()}, headers={"Origin": origin})
    assert reply.status == 403
    assert server.request("GET", "/queue").json()["queue_pending"] == []


def test_same_origin_browser_request_is_allowed(server: Server) -> None:
    reply = server.request("POST", "/api/prompt", {"prompt": chain()},
                           headers={"Origin": server.url, "Sec-Fetch-Site": "same-origin"})
    assert reply.status == 200
    server.wait_job(reply.json()["prompt_id"])


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_simple_cross_site_post_is_refused(server: Server, content_type: str) -> None:
    body = json.dumps({"prompt": chain()}).encode()
    cross = server.request("POST", "/prompt", raw=body,
                           headers={"Content-Type": content_type, "Origin": "https://evil.example"})
    assert cross.status == 403
    # Even from our own origin, a browser may only send JSON to a JSON endpoint.
    same = server.request("POST", "/prompt", raw=body, headers={"Content-Type": content_type, "Origin": server.url})
    assert same.status == 415


@pytest.mark.parametrize("value", ["cross-site", "Cross-Site", "CROSS-SITE"])
def test_sec_fetch_site_cross_site_any_case_is_403(server: Server, value: str) -> None:
    reply = server.request("POST", "/api/interrupt", {}, headers={"Sec-Fetch-Site": value})
    assert reply.status == 403
    assert server.request("GET", "/api/queue", headers={"Sec-Fetch-Site": value}).status == 403


def test_cross_site_link_to_the_editor_still_opens(server: Server) -> None:
    navigation = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert server.request("GET", "/", headers=navigation).status == 200
    assert server.request("GET", "/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}).status \
        == 403
    assert server.request("POST", "/api/interrupt", {}, headers=navigation).status == 403


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8188", "127.0.0.1.nip.io", ""])
def test_dns_rebinding_host_is_403(server: Server, host: str) -> None:
    assert server.request("GET", "/api/queue", headers={"Host": host}).status == 403


@pytest.mark.parametrize("host", ["localhost", "localhost:1234", "127.0.0.1", "[::1]:8188", "192.168.1.20:8188"])
def test_loopback_hosts_are_allowed(server: Server, host: str) -> None:
    assert server.request("GET", "/api/queue", headers={"Host": host}).status == 200


def test_websocket_with_foreign_origin_is_refused(server: Server) -> None:
    async def attempt() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(f"{server.url}/ws?clientId=x",
                                              headers={"Origin": "https://evil.example"}):
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    assert asyncio.run(attempt()) == 403


def test_no_cors_headers_by_default(server: Server) -> None:
    reply = server.request("GET", "/api/queue", headers={"Origin": server.url})
    assert "Access-Control-Allow-Origin" not in reply.headers
    preflight = server.request("OPTIONS", "/api/prompt", headers={"Origin": "https://evil.example",
                                                                   "Access-Control-Request-Method": "POST"})
    assert preflight.status in (403, 405)
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_system_stats_leaks_nothing(server: Server) -> None:
    reply = server.request("GET", "/api/system_stats")
    stats = reply.json()
    # Never the real command line; only the flag that keeps ComfyUI's frontend from calling comfy.org.
    assert stats["system"]["argv"] == ["--disable-api-nodes"]
    text = reply.body.decode()
    for secret in (str(Path.home()), str(server.base), str(REPO), "HF_HUB_OFFLINE", os.environ.get("PATH", "@@")):
        assert secret not in text
    assert {"os", "ram_total", "ram_free", "python_version"} <= set(stats["system"])
    assert stats["devices"][0]["type"] in ("cpu", "cuda")


@pytest.mark.parametrize("path", ["/prompt", "/queue", "/interrupt", "/free", "/history", "/upload/image"])
def test_get_never_mutates(server: Server, path: str) -> None:
    done = server.post_prompt(chain()).json()["prompt_id"]
    server.wait_job(done)
    history = server.request("GET", "/history").json()
    reply = server.request("GET", f"{path}?clear=true&delete={done}&prompt_id={done}&unload_models=true")
    assert reply.status in (200, 404, 405)
    assert server.request("GET", "/history").json() == history


def test_error_responses_carry_nosniff(server: Server) -> None:
    for reply in (server.request("GET", "/nope/nope"), server.request("GET", "/api/jobs/x"),
                  server.request("GET", "/api/queue", headers={"Host": "evil"})):
        assert reply.headers["X-Content-Type-Options"] == "nosniff"


# -- startup refusals (the config check runs before anything heavy is imported) ------------------------------


def _start_fails(*args: str) -> str:
    result = subprocess.run([sys.executable, str(REPO / "server.py"), *args], capture_output=True, text=True,
                            timeout=60, cwd=REPO)
    assert result.returncode == 2, result.stderr
    return result.stderr


def test_listen_beyond_loopback_without_token_refused() -> None:
    assert "access token" in _start_fails("--listen", "0.0.0.0")
    assert "access token" in _start_fails("--listen")


def test_cors_wildcard_refused() -> None:
    assert "refused" in _start_fails("--cors-origin", "*")
    assert "refused" in _start_fails("--cors-origin", "null")


# -- access token, CORS configured --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Also a small upload limit and moved folders: each server start costs seconds, so one checks several flags.
    root = tmp_path_factory.mktemp("guarded")
    (root / "elsewhere" / "ckpts").mkdir(parents=True)
    (root / "elsewhere" / "ckpts" / "extra.safetensors").write_bytes(b"x")
    (root / "extra.yaml").write_text(f"mine:\n  base_path: {root / 'elsewhere'}\n  checkpoints: ckpts\n")
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>loom editor</title>")
    (dist / "assets" / "app-abc123.js").write_text("console.log(1)")
    (dist / "assets" / "notes.md").write_text("not a served type")
    os.symlink("/etc/passwd", dist / "assets" / "passwd.js")
    # With a token the server may listen beyond loopback (§C4 49's other half).
    instance = Server(root / "base", "--listen", "0.0.0.0", "--web-root", str(dist), "--cors-origin",
                      "http://localhost:5173",
                      "--allowed-hosts", "loom.lan",
                      "--max-upload-size", "0.01", "--input-directory", str(root / "in"), "--user-directory",
                      str(root / "usr"), "--extra-model-paths-config", str(root / "extra.yaml"), token=TOKEN).start()
    try:
        yield instance
    finally:
        instance.stop()


def test_token_required_on_every_route(guarded: Server) -> None:
    no_token = {"Authorization": ""}
    for method, path in (("GET", "/api/queue"), ("GET", "/"), ("GET", "/view?filename=x.png"),
                         ("POST", "/prompt"), ("GET", "/object_info"), ("GET", "/api/jobs/x")):
        assert guarded.request(method, path, headers=no_token).status == 401
    assert guarded.request("GET", "/api/queue", headers={"Authorization": "Bearer wrong-token-0123456789"}).status \
        == 401
    assert guarded.request("GET", "/api/queue").status == 200
    assert guarded.request("GET", f"/api/queue?token={TOKEN}", headers=no_token).status == 200
    assert guarded.request("GET", "/api/queue", headers={**no_token, "X-Access-Token": TOKEN}).status == 200


def test_token_page_sets_cookie_for_the_editor(guarded: Server) -> None:
    page = guarded.request("GET", f"/?token={TOKEN}", headers={"Authorization": ""})
    assert page.status == 200
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    name_value = cookie.split(";")[0]
    assert guarded.request("GET", "/api/queue", headers={"Authorization": "", "Cookie": name_value}).status == 200


def test_websocket_needs_the_token(guarded: Server) -> None:
    async def attempt(url: str) -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url) as ws:
                    message = await ws.receive(timeout=5)
                    assert json.loads(message.data)["type"] == "status"
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    assert asyncio.run(attempt(f"{guarded.url}/ws?clientId=a")) == 401
    assert asyncio.run(attempt(f"{guarded.url}/ws?clientId=a&token={TOKEN}")) == 101


def test_allowed_hosts_extend_the_host_check(guarded: Server) -> None:
    assert guarded.request("GET", "/api/queue", headers={"Host": "loom.lan:8188"}).status == 200
    assert guarded.request("GET", "/api/queue", headers={"Host": "other.lan"}).status == 403


def test_configured_cors_origin_only(guarded: Server) -> None:
    allowed = guarded.request("GET", "/api/queue", headers={"Origin": "http://localhost:5173"})
    assert allowed.status == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    preflight = guarded.request("OPTIONS", "/api/prompt", headers={
        "Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST", "Authorization": ""})
    assert preflight.status == 204
    other = guarded.request("GET", "/api/queue", headers={"Origin": "http://localhost:5174"})
    assert other.status == 403 and "Access-Control-Allow-Origin" not in other.headers


def test_upload_over_size_limit_is_413_and_leaves_nothing(guarded: Server) -> None:
    folder = guarded.base.parent / "in"  # --input-directory (a new one holds the templates' example.png)
    before = sorted(entry.name for entry in folder.iterdir())
    reply = upload(guarded, "big.png", png_bytes((400, 400)) + os.urandom(20_000))
    assert reply.status == 413
    assert sorted(entry.name for entry in folder.iterdir()) == before
    assert upload(guarded, "small.png", png_bytes()).status == 200
    assert sorted(entry.name for entry in folder.iterdir()) == sorted([*before, "small.png"])


def test_folder_flags_are_honoured(guarded: Server) -> None:
    assert (guarded.base.parent / "usr" / "latent_loom" / "jobs.sqlite3").is_file()  # --user-directory
    assert not (guarded.base / "user").exists()
    assert "extra.safetensors" in guarded.request("GET", "/models/checkpoints").json()  # extra_model_paths


def test_editor_files_are_served_from_the_web_root_only(guarded: Server) -> None:
    page = guarded.request("GET", "/")
    assert page.status == 200 and b"loom editor" in page.body
    assert page.headers["Cache-Control"] == "no-cache"
    script = guarded.request("GET", "/assets/app-abc123.js")
    assert script.status == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert "immutable" in script.headers["Cache-Control"]
    for path in ("/assets/passwd.js", "/assets/notes.md", "/assets/../../base/user/latent_loom/jobs.sqlite3",
                 "/%2e%2e/%2e%2e/etc/passwd", "/assets/missing.js"):
        reply = guarded.request("GET", path)
        assert reply.status == 404, path
        assert b"root:" not in reply.body
