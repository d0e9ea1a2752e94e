"""The README's commands, run as a newcomer would: pasted into a fresh shell, in a fresh copy of the checkout.

Every ```bash block is split into commands (a command ends where its quotes close and no `\\` continues it),
and every inline code span that starts like a command is collected too. Each command is then classified:

- run as written in the copy (`./loom …`, `curl …` against a server started there with `./loom`, `.venv/bin/…`
  commands given `--help` or `--collect-only` when they would start a long job: benchmarks, training);
- or, for commands that set up or run the whole project or a long job (every `make` target, `npm run dev`),
  checked to exist (`make -n TARGET`, the npm script in web/package.json) without being run from `make test`.

A command matching no rule fails the test: a new README command must be runnable or explicitly classified here.
The shell has no venv activated and a bare PATH. The only rewrite is the port: `127.0.0.1:8188` becomes the
test server's port, so the test never collides with a server already running on this machine.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api.server_harness import free_port

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
#: Inline spans that start like this are commands (prose mentions such as `models/` are not).
COMMAND_START = re.compile(r"^(\./loom\b|make\b|curl\b|cd web\b|\.venv/bin/|python\b|pytest\b|npm\b|pip\b)")
#: Forms the README shows for people who activated the venv (said so next to them); they name no real command.
VENV_FORMS = {"python server.py …", "python server.py"}
COMMAND_TIMEOUT = 300.0


@dataclass(frozen=True)
class Command:
    text: str
    inline: bool


def split_block(block: str) -> list[str]:
    """Shell commands of a ```bash block: comment lines dropped, continued and multi-line quoted commands joined."""
    commands: list[str] = []
    pending: list[str] = []
    for line in block.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending.append(line)
        text = "\n".join(pending)
        if text.rstrip().endswith("\\"):
            continue
        try:
            shlex.split(text, comments=True)
        except ValueError:  # a quote is still open: the command goes on
            continue
        commands.append(text.strip())
        pending = []
    assert not pending, f"unterminated command in the README: {pending}"
    return commands


def readme_commands(text: str) -> list[Command]:
    """Commands in README order: ```bash blocks and command-like inline spans outside them."""
    found: list[tuple[int, Command]] = []
    blocks = list(re.finditer(r"^[ \t]*```bash\n(.*?)^[ \t]*```", text, flags=re.DOTALL | re.MULTILINE))
    for match in blocks:
        body = match.group(1)
        indent = min((len(line) - len(line.lstrip(" ")) for line in body.splitlines() if line.strip()), default=0)
        dedented = "\n".join(line[indent:] for line in body.splitlines())
        found += [(match.start(), Command(command, inline=False)) for command in split_block(dedented)]
    fenced = list(re.finditer(r"^[ \t]*```.*?^[ \t]*```", text, flags=re.DOTALL | re.MULTILINE))
    spans = set()
    for match in re.finditer(r"(?<!`)`([^`\n]+)`(?!`)", text):
        if any(block.start() <= match.start() < block.end() for block in fenced):
            continue
        span = match.group(1).strip()
        if COMMAND_START.match(span) and span not in spans:
            spans.add(span)
            found.append((match.start(), Command(span, inline=True)))
    ordered: list[Command] = []
    for _, command in sorted(found, key=lambda pair: pair[0]):
        if command.text not in {seen.text for seen in ordered}:  # a command shown twice runs once
            ordered.append(command)
    return ordered


# ------------------------------------------------------------------------------------------------ the sandbox


def fresh_copy(target: Path) -> Path:
    """The checkout's files (tracked and new, not ignored) copied with their times, the set-up linked in."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO, check=True,
        capture_output=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    # What `make run` built: the venv, the editor's packages and bundle.
    for built in (".venv", "web/node_modules", "web/dist"):
        if (REPO / built).exists():
            (target / built).parent.mkdir(parents=True, exist_ok=True)
            (target / built).symlink_to((REPO / built).resolve())
    return target


def fresh_env(home: Path) -> dict[str, str]:
    """A new login shell's environment: no venv, no PYTHONPATH, a bare PATH."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb"}


class Sandbox:
    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.env = fresh_env(home)
        self.port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.server_log = home / "server.log"

    def sh(self, command: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", command], cwd=self.root, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def start_server(self) -> None:
        """`./loom`, as the README says, on a free port."""
        if self.server is not None:
            return
        with self.server_log.open("wb") as log:
            self.server = subprocess.Popen(["./loom", "--port", str(self.port)], cwd=self.root, env=self.env,
                                           stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.server.poll() is None, self.server_log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/features", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("./loom did not start serving:\n" + self.server_log.read_text())

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGINT)
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                self.server.kill()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    root = fresh_copy(tmp_path_factory.mktemp("checkout"))
    box = Sandbox(root, tmp_path_factory.mktemp("home"))
    try:
        yield box
    finally:
        box.stop()


# ------------------------------------------------------------------------------------------------ the checks


def check(box: Sandbox, command: Command) -> str:
    """Run or verify one README command; returns what was done (for the failure report)."""
    text = command.text
    words = shlex.split(text, comments=True)
    if text in VENV_FORMS:
        return "venv form (documented as needing `. .venv/bin/activate`)"
    if words[0] == "make":
        # Make targets set up or run the whole project (or long jobs): checked with `make -n`, never run here.
        target = words[1] if len(words) > 1 else "run"
        result = box.sh(f"make -n {shlex.quote(target)}")
        assert result.returncode == 0, f"`{text}`: no such make target:\n{result.stderr}"
        return "make target exists"
    if words[:2] == ["cd", "web"] and "npm" in words:
        script = words[-1] if words[words.index("npm") + 1] == "run" else words[words.index("npm") + 1]
        scripts = json.loads((box.root / "web" / "package.json").read_text())["scripts"]
        assert script in scripts, f"`{text}`: web/package.json has no script {script!r}"
        return "npm script exists"
    if words[0] == "./loom" and len(words) == 1:
        box.start_server()
        return "served"
    if words[0] == "curl":
        box.start_server()
        result = box.sh(text.replace("127.0.0.1:8188", f"127.0.0.1:{box.port}"))
        assert result.returncode == 0, f"`{text}` failed:\n{result.stderr}\n{box.server_log.read_text()}"
        if result.stdout.lstrip().startswith("{"):
            answer = json.loads(result.stdout)
            assert answer.get("status") in (None, "succeeded") and "error" not in answer, result.stdout
        if "-o" in words:
            written = box.root / words[words.index("-o") + 1]
            assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"`{text}` did not write a PNG"
        return "ran against the server"
    if words[0] == ".venv/bin/pytest":
        result = box.sh(f"{text} --collect-only -q")
        assert result.returncode == 0, (  # 5: nothing collected
            f"`{text}` collects nothing:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
        return "pytest collects"
    if words[0] == ".venv/bin/python" and words[1].startswith("bench/"):
        result = box.sh(f"{shlex.join(words[:2])} --help")
        assert result.returncode == 0, f"`{text} --help` failed:\n{result.stderr[-2000:]}"
        return "benchmark script starts"
    if words[0] == ".venv/bin/python" and words[1:2] == ["-m"] and words[2].startswith("train."):
        result = box.sh(f"{shlex.join(words[:3])} --help")  # Loom Mini's training and evaluation: long jobs
        assert result.returncode == 0, f"`{text} --help` failed:\n{result.stderr[-2000:]}"
        return "training script starts"
    if words[0] == "./loom":
        result = box.sh(text)
        assert result.returncode == 0, f"`{text}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        return result.stdout
    raise AssertionError(f"README command `{text}` matches no rule in tests/test_readme.py: classify it there")


def test_readme_commands_work_in_a_fresh_shell(sandbox: Sandbox) -> None:
    commands = readme_commands(README.read_text())
    texts = [command.text for command in commands]
    # The README's first steps are all here, in order.
    assert texts.index("./loom demo-model") < min(i for i, t in enumerate(texts) if t.startswith("curl"))
    outputs: dict[str, str] = {}
    for command in commands:
        started = time.monotonic()
        outputs[command.text] = check(sandbox, command)
        print(f"{time.monotonic() - started:6.1f}s  {command.text.splitlines()[0][:100]}")
    stats = next((out for text, out in outputs.items() if text == "./loom stats"), None)
    assert stats is not None, "the README quotes `./loom stats`: its figures are checked below"
    readme = README.read_text()
    figures, table = stats.split("\n\nmodel folders:\n", 1)
    hint = "run `./loom stats --write-readme` and commit README.md"
    assert figures.strip() in readme, f"README's figures differ from `./loom stats`: {hint}"
    assert table.strip() in readme, f"README's model-folder table differs from `./loom stats`: {hint}"


def test_command_extraction() -> None:
    text = (
        "Run `./loom demo-model` or see `models/`.\n\n```bash\n# comment\n"
        "curl -s -X POST 'http://x' \\\n  -d '{\"a\":\n 1}'\n./loom run f.json   # note\n```\n"
    )
    assert [c.text for c in readme_commands(text)] == [
        "./loom demo-model", "curl -s -X POST 'http://x' \\\n  -d '{\"a\":\n 1}'", "./loom run f.json   # note",
    ]
    assert [c.text for c in readme_commands("`make run` and\n```bash\nmake run\n```\n")] == ["make run"]


def test_the_shell_is_fresh(sandbox: Sandbox) -> None:
    """The commands above ran with no venv on the PATH: the project's Python is only reachable through ./loom."""
    result = sandbox.sh("command -v python3; echo \"venv=$VIRTUAL_ENV\"")
    assert ".venv" not in result.stdout and "venv=\n" in result.stdout
