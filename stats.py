"""What this checkout supports, measured from the code: `./loom stats` (or `make stats`).

    ./loom stats               node count and categories, model families, shipped templates, model folders,
                               and the ComfyUI template corpus coverage (bench/templates.py, when installed)
    ./loom stats --folders     only the model-folder table (the README's copy is checked against it)
    ./loom stats --json        the same facts as JSON

The README quotes these figures; tests/test_readme.py checks the ones that are cheap to recompute.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folders

REPO = Path(__file__).resolve().parent
#: What people call each family the loaders recognise (diffusion.types.Family).
FAMILY_NAMES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL base", "sdxl_refiner": "SDXL refiner"}


def load_registry() -> Any:
    """The built-in catalog (no plugins), as the server loads it."""
    import nodes
    from graph.registry import REGISTRY

    nodes.load_catalog(None)
    return REGISTRY


def families() -> list[str]:
    """The model families the checkpoint loader recognises, from the `Family` type itself."""
    from diffusion.types import Family

    return [FAMILY_NAMES.get(name, name) for name in typing.get_args(Family)]


def categories(registry: Any) -> dict[str, int]:
    """Node count per top-level category, largest first."""
    counts = Counter(str(spec.category).split("/")[0] for spec in registry)
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))


def shipped_templates() -> list[str]:
    return sorted(path.stem for path in (REPO / "workflows").glob("*.json"))


def folder_table(registry: Any) -> str:
    """The README's table: which folder under models/ feeds which nodes (only folders some node reads)."""
    rows = ["| Folder | Read by |", "| --- | --- |"]
    for kind, readers in folders.folder_uses(registry).items():
        names = folders.DEFAULT_MODEL_FOLDERS[kind]
        shown = ", ".join(f"`models/{name}/`" for name in names)
        rows.append(f"| {shown} | {', '.join(readers)} |")
    return "\n".join(rows)


def template_coverage() -> dict[str, Any] | None:
    """Coverage of ComfyUI's template corpus (bench/templates.py), or None if the corpus is not installed."""
    try:
        sys.path.insert(0, str(REPO))
        from bench import templates
    except ImportError:
        return None
    try:
        results = templates.run()
    except SystemExit:  # the corpus package is missing: bench/templates.py says so and exits
        return None
    supported = [item for item in results if item.status == "supported"]
    return {"supported": len(supported), "templates": len(results),
            "supported_names": sorted(item.name for item in supported)}


def collect(with_corpus: bool = True) -> dict[str, Any]:
    registry = load_registry()
    return {
        "node_count": len(registry),
        "categories": categories(registry),
        "families": families(),
        "shipped_templates": shipped_templates(),
        "model_folders": {kind: readers for kind, readers in folders.folder_uses(registry).items()},
        "template_corpus": template_coverage() if with_corpus else None,
    }


def render(facts: dict[str, Any], registry: Any) -> str:
    cats = ", ".join(f"{name} {count}" for name, count in facts["categories"].items())
    lines = [
        f"node types: {facts['node_count']} ({cats})",
        f"model families that load: {', '.join(facts['families'])}",
        f"shipped templates ({len(facts['shipped_templates'])}): {', '.join(facts['shipped_templates'])}",
    ]
    corpus = facts["template_corpus"]
    if corpus is None:
        lines.append("ComfyUI template corpus: not installed (pip install -r requirements-dev.txt)")
    else:
        lines.append(
            f"ComfyUI template corpus: {corpus['supported']} of {corpus['templates']} local image templates "
            f"run ({', '.join(corpus['supported_names']) or 'none'}); details: .venv/bin/python bench/templates.py"
        )
    lines += ["", "model folders:", folder_table(registry)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loom stats", description="what this checkout supports")
    parser.add_argument("--folders", action="store_true", help="print only the model-folder table (Markdown)")
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")
    parser.add_argument("--no-corpus", action="store_true", help="skip the template corpus check (~15 s)")
    args = parser.parse_args(argv)
    if args.folders:
        print(folder_table(load_registry()))
        return 0
    facts = collect(with_corpus=not args.no_corpus)
    print(json.dumps(facts, indent=2) if args.json else render(facts, load_registry()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
