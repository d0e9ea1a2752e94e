"""The routes ComfyUI's frontend needs besides the classics: users, settings (persisted per user), userdata
confined to the user's folder, i18n, model library, templates, the Jobs API listing."""

from __future__ import annotations

import json

import pytest

from tests.api.server_harness import Server, chain


def same_origin(server: Server) -> dict[str, str]:
    return {"Origin": server.url, "Content-Type": "text/plain;charset=UTF-8"}


def test_users_and_settings_persist_per_user(server: Server) -> None:
    assert server.request("GET", "/api/users").json()["storage"] == "server"
    # ComfyUI's frontend posts a setting's value without a JSON content type, from its own origin.
    reply = server.request("POST", "/api/settings/Comfy.Test.Value", raw=b'"blue"', headers=same_origin(server))
    assert reply.status == 200
    assert server.request("POST", "/api/settings", {"Comfy.Other": 3}).status == 200
    settings = server.request("GET", "/api/settings").json()
    assert settings["Comfy.Test.Value"] == "blue" and settings["Comfy.Other"] == 3
    assert server.request("GET", "/api/settings/Comfy.Test.Value").json() == "blue"
    assert server.request("GET", "/api/settings/Comfy.Unset").json() is None
    stored = json.loads((server.base / "user" / "default" / "comfy.settings.json").read_text())
    assert stored["Comfy.Test.Value"] == "blue"
    # From another site the same request is refused before it is read.
    cross = server.request("POST", "/api/settings/Comfy.Test.Value", raw=b'"red"',
                           headers={"Origin": "https://evil.example", "Content-Type": "text/plain"})
    assert cross.status == 403
    assert server.request("GET", "/api/settings/Comfy.Test.Value").json() == "blue"


def test_userdata_write_list_read_move_delete(server: Server) -> None:
    workflow = b'{"nodes": []}'
    reply = server.request("POST", "/api/userdata/workflows%2Fmine.json?overwrite=false", raw=workflow,
                           headers={"Content-Type": "application/json"})
    assert reply.status == 200 and reply.json() == "workflows/mine.json"
    again = server.request("POST", "/api/userdata/workflows%2Fmine.json?overwrite=false", raw=workflow,
                           headers={"Content-Type": "application/json"})
    assert again.status == 409
    listing = server.request("GET", "/api/userdata?dir=workflows&recurse=true&full_info=true").json()
    assert [row["path"] for row in listing] == ["mine.json"] and listing[0]["size"] == len(workflow)
    assert server.request("GET", "/api/userdata?dir=workflows").json() == ["mine.json"]
    v2 = server.request("GET", "/api/v2/userdata?path=workflows").json()
    assert [(row["path"], row["type"]) for row in v2] == [("workflows/mine.json", "file")]
    read = server.request("GET", "/api/userdata/workflows%2Fmine.json")
    assert read.status == 200 and read.body == workflow and read.headers["Content-Disposition"] == "attachment"
    moved = server.request("POST", "/api/userdata/workflows%2Fmine.json/move/workflows%2Frenamed.json", raw=b"")
    assert moved.status == 200 and moved.json() == "workflows/renamed.json"
    assert server.request("GET", "/api/userdata/workflows%2Fmine.json").status == 404
    assert server.request("DELETE", "/api/userdata/workflows%2Frenamed.json").status == 204
    assert server.request("GET", "/api/userdata?dir=workflows").json() == []
    assert server.request("GET", "/api/userdata?dir=absent").json() == []


@pytest.mark.parametrize(("path", "status"), [
    ("/api/userdata/..%2F..%2Fjobs.txt", 400),
    ("/api/userdata/%2Fetc%2Fpasswd", 400),
    ("/api/userdata/a%5C..%5Cb", 400),
    ("/api/userdata/workflows%2F..%2F..%2Fx", 400),
])
def test_userdata_traversal_refused(server: Server, path: str, status: int) -> None:
    for method in ("GET", "POST", "DELETE"):
        reply = server.request(method, path, raw=b"x" if method == "POST" else None,
                               headers={"Content-Type": "application/json"})
        assert reply.status == status, (method, path, reply.body)
        body = reply.body.decode()
        assert "Traceback" not in body and str(server.base) not in body
    assert not (server.base / "jobs.txt").exists() and not (server.base / "x").exists()
    listing = server.request("GET", "/api/userdata?dir=..%2F..")
    assert listing.status == 400


def test_userdata_symlink_out_refused(server: Server, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.json").write_text("{}")
    user = server.base / "user" / "default"
    user.mkdir(parents=True, exist_ok=True)
    link = user / "linked"
    if not link.exists():
        link.symlink_to(outside, target_is_directory=True)
    assert server.request("GET", "/api/userdata/linked%2Fsecret.json").status == 403
    write = server.request("POST", "/api/userdata/linked%2Fnew.json", raw=b"{}",
                           headers={"Content-Type": "application/json"})
    assert write.status == 403 and not (outside / "new.json").exists()


def test_frontend_start_up_routes(server: Server) -> None:
    assert server.request("GET", "/api/i18n").json() == {}
    assert server.request("GET", "/api/workflow_templates").json() == {}
    assert server.request("GET", "/api/global_subgraphs").json() == {}
    folders = server.request("GET", "/api/experiment/models").json()
    names = [row["name"] for row in folders]
    assert "checkpoints" in names and "configs" not in names
    for row in folders:
        for folder in row["folders"]:
            assert str(server.base) not in folder and not folder.startswith("/")
    assert server.request("GET", "/api/experiment/models/checkpoints").status == 200
    assert server.request("GET", "/api/experiment/models/nope").status == 404
    assert server.request("GET", "/api/userdata/user.css").headers["Content-Type"].startswith("text/css")
    assert server.request("GET", "/user.css").status == 200
    assert server.request("GET", "/templates/index.json").status == 200
    assert server.request("GET", "/api/internal/files/output").status == 200
    assert server.request("GET", "/api/internal/files/..").status == 400
    paths = server.request("GET", "/api/internal/folder_paths").json()
    assert all(not p.startswith("/") for folders in paths.values() for p in folders)
    assert "--disable-api-nodes" in server.request("GET", "/api/system_stats").json()["system"]["argv"]


def test_comfyui_jobs_api_listing(server: Server) -> None:
    done = server.wait_job(server.post_prompt(chain(value=4242)).json()["prompt_id"])
    listing = server.request("GET", "/api/jobs?status=completed,failed,cancelled&limit=64&offset=0").json()
    assert set(listing["pagination"]) == {"offset", "limit", "total", "has_more"}
    job = next(row for row in listing["jobs"] if row["id"] == done["id"])
    assert job["status"] == "completed" and isinstance(job["create_time"], int)
    assert job["outputs_count"] == 1 and job["preview_output"]["nodeId"] == "3"
    queue = server.request("GET", "/api/jobs?status=in_progress,pending&limit=200&offset=0").json()
    assert all(row["status"] in ("in_progress", "pending") for row in queue["jobs"])
    assert server.request("GET", "/api/jobs?status=bogus").status == 400
