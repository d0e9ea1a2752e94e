"""Latent Loom's entry point.

    python server.py [--listen ADDR] [--port N] [...]     serve the editor and the ComfyUI-compatible API
    python server.py run WORKFLOW.json [...]              run a workflow headless (cli.py)
    python server.py demo-model                           write a tiny demo checkpoint (cli.py)
    python server.py grid WORKFLOW --x N.INPUT=A,B [...]  an XY(Z) grid of one workflow (commands/grid.py)
    python server.py stats                                what this checkout supports (stats.py)
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

CLI_COMMANDS = ("run", "demo-model", "grid")
JOB_DATABASE = Path("latent_loom") / "jobs.sqlite3"


def serve(argv: list[str]) -> int:
    """Parse flags, load the node catalog, open the job store and serve until interrupted."""
    from api.config import ConfigError, config_from_args

    try:
        config = config_from_args(argv)
    except ConfigError as error:
        print(f"server.py: error: {error}", file=sys.stderr)
        return 2
    from api import oplog

    oplog.configure(config.log_level, config.log_format)
    from aiohttp import web

    import folders
    import runconfig
    from api.app import create_app
    from api.engine import EngineAdapter
    from api.store import JobStore

    try:
        # Device, precision, folders and plugins: the same code path as `server.py run` (runconfig.py).
        layout, registry = runconfig.prepare(config.engine())
    except folders.ExtraModelPathsError as error:
        print(f"server.py: error: {error}", file=sys.stderr)
        return 2
    layout.clean_temp()
    for failure in registry.load_errors:
        logging.getLogger("server").warning("node module %s did not load: %s", failure.module, failure.message)
    store = JobStore(layout.user_directory / JOB_DATABASE, config.history_size)
    app = create_app(config, layout, EngineAdapter(registry), store)
    hosts = list(config.listen)
    shown = ", ".join(f"http://{'[' + h + ']' if ':' in h else h}:{config.port}" for h in hosts)
    from diffusion.devices import default_device

    device = str(default_device())
    pending = store.pending_count()
    oplog.log.info(
        "Latent Loom started: serving on %s; base directory %s; device %s; %d node types; %d jobs queued",
        shown, layout.base_directory, device, len(registry), pending,
        extra={"event": "started", "address": shown, "base_directory": str(layout.base_directory),
               "device": device, "node_count": len(registry), "pending": pending},
    )
    # Kept on stdout too: scripts and the README wait for this line.
    print(f"Latent Loom: serving on {shown}", flush=True)
    # aiohttp turns SIGINT and SIGTERM into a graceful stop: create_app's shutdown hook interrupts the running
    # step, leaves pending jobs in the SQLite queue and logs what it did (api/app.py).
    web.run_app(app, host=hosts, port=config.port, print=None, access_log=None, shutdown_timeout=5.0)
    oplog.log.info("Latent Loom stopped", extra={"event": "stopped"})
    return 0


def __getattr__(name: str) -> object:
    """ComfyUI custom nodes do `from server import PromptServer`: give them the compatibility one."""
    if name == "PromptServer":
        from comfy_compat.prompt_server import PromptServer

        return PromptServer
    raise AttributeError(f"server.{name} is not provided by Latent Loom's server.py; see docs/custom-nodes.md")


def main(argv: list[str] | None = None) -> int:
    """Dispatch: the CLI subcommands go to cli.main, everything else serves."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "stats":
        import stats

        return stats.main(args[1:])
    if args and args[0] in CLI_COMMANDS:
        import cli

        result: int = cli.main(args)
        return result
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
