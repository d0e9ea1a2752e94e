"""Coverage of ComfyUI's official workflow templates: how many local image templates Latent Loom can run.

    .venv/bin/python bench/templates.py                  # the table per model family and the missing nodes
    .venv/bin/python bench/templates.py --list           # one line per template with its status
    .venv/bin/python bench/templates.py --json           # the same facts as JSON
    .venv/bin/python bench/templates.py --names a,b      # only these templates

The corpus is the pinned PyPI package `comfyui-workflow-templates-json` (requirements-dev.txt): UI workflows
plus an `index.json` that groups them by media type and tags each with its models. A template counts when its
group is an image group and it is local: not an API-node template (`openSource: false` or an `api_` name).

Each template goes through the same path as a file dropped on the editor: `load_workflow` (ComfyUI's UI → API
conversion: widgets by name, primitives and reroutes resolved, subgraphs flattened), then `validate`. It is
*supported* when every active node type exists here and validation finds nothing but missing files (a model or
input image the combo does not list, which a user supplies). Missing node types are ranked by how many blocked
templates use them, and by how many each would unblock on its own (the templates it is the only gap of).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from graph.formats import load_workflow  # noqa: E402
from graph.registry import NodeRegistry  # noqa: E402
from graph.validate import validate  # noqa: E402
from graph.workflow import WorkflowFormatError  # noqa: E402

CORPUS_PACKAGE = "comfyui_workflow_templates_json"
#: Index tags that name a vendor or a whole line rather than a model family; a more specific tag wins.
GENERIC_TAGS = frozenset({"Stability", "FLUX", "Qwen", "Wan", "Nvidia", "Tencent", "Lightricks", "Google"})
#: Validation codes that only say a file is absent (a model or an input image the user supplies).
MISSING_FILE_CODES = frozenset({"value_not_in_list"})


@dataclass(frozen=True)
class Template:
    """One corpus entry: its file name (without .json), model family and the index group it sits in."""

    name: str
    family: str
    group: str
    path: Path


@dataclass
class Result:
    """What happened to one template."""

    name: str
    family: str
    #: "supported", "missing_nodes", "invalid" (validation found more than missing files) or "unreadable".
    status: str
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def corpus_dir() -> Path:
    """The templates folder of the installed corpus package; a clear error when it is not installed."""
    try:
        root = resources.files(CORPUS_PACKAGE)
    except ModuleNotFoundError:
        raise SystemExit(
            "the template corpus is not installed: .venv/bin/pip install -r requirements-dev.txt "
            "(package comfyui-workflow-templates-json)"
        ) from None
    return Path(str(root)) / "templates"


def family_of(models: Sequence[str]) -> str:
    """The model family of an index entry: its first specific tag ("SDXL" for ["SDXL", "Stability"])."""
    specific = [tag for tag in models if tag not in GENERIC_TAGS]
    chosen = specific[0] if specific else (models[0] if models else "None")
    return "none (utility)" if chosen == "None" else chosen


def is_api_template(entry: dict[str, Any]) -> bool:
    """API-node templates call a paid service; the index marks them closed or names them api_*."""
    return entry.get("openSource") is False or str(entry.get("name", "")).startswith("api_")


def local_image_templates(directory: Path) -> list[Template]:
    """Every local template of an image group of the index, in index order."""
    index = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    found: list[Template] = []
    for group in index:
        if group.get("type") != "image":
            continue
        for entry in group.get("templates", []):
            path = directory / f"{entry['name']}.json"
            if is_api_template(entry) or not path.is_file():
                continue
            found.append(Template(entry["name"], family_of(entry.get("models") or []), group["title"], path))
    return found


def active_types(data: dict[str, Any]) -> set[str]:
    """Node types of the template's active nodes, subgraph bodies included (muted/bypassed ones never run)."""
    bodies = [data.get("nodes") or []]
    definitions = data.get("definitions")
    if isinstance(definitions, dict):
        bodies += [graph.get("nodes") or [] for graph in definitions.get("subgraphs") or [] if isinstance(graph, dict)]
    subgraph_ids = {
        str(graph.get("id")) for graph in (definitions or {}).get("subgraphs") or [] if isinstance(graph, dict)
    }
    return {
        str(item["type"])
        for body in bodies
        for item in body
        if isinstance(item, dict) and item.get("mode", 0) not in (2, 4) and str(item.get("type")) not in subgraph_ids
    }


#: Frontend-only types the UI conversion resolves away; never node types of the backend.
FRONTEND_TYPES = frozenset({"Note", "MarkdownNote", "Reroute", "PrimitiveNode"})


def check_template(template: Template, registry: NodeRegistry) -> Result:
    """Convert and validate one template; missing node types are read from the file itself."""
    result = Result(template.name, template.family, "supported")
    try:
        data = json.loads(template.path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        return Result(template.name, template.family, "unreadable", problems=[str(error)])
    result.missing = sorted(kind for kind in active_types(data) - FRONTEND_TYPES if kind not in registry)
    if result.missing:
        result.status = "missing_nodes"
        return result
    try:
        workflow = load_workflow(data, registry)
    except WorkflowFormatError as error:
        return Result(template.name, template.family, "invalid", problems=[f"conversion: {error}"])
    issues = validate(workflow, registry)
    result.problems = [issue.message for issue in issues if issue.type not in MISSING_FILE_CODES]
    if result.problems:
        result.status = "invalid"
    return result


def run(names: Iterable[str] | None = None, registry: NodeRegistry | None = None) -> list[Result]:
    """Check every local image template (or only `names`) against the catalog."""
    if registry is None:
        from nodes import load_catalog

        registry = load_catalog()  # the node modules register into the global registry as they import
    templates = local_image_templates(corpus_dir())
    if names is not None:
        wanted = set(names)
        templates = [item for item in templates if item.name in wanted]
        unknown = wanted - {item.name for item in templates}
        if unknown:
            raise SystemExit(f"not local image templates of the corpus: {', '.join(sorted(unknown))}")
    return [check_template(item, registry) for item in templates]


def missing_ranking(results: Sequence[Result]) -> list[tuple[str, int, int]]:
    """(node type, blocked templates using it, templates it alone blocks), most used first."""
    used = Counter(kind for item in results for kind in item.missing)
    alone = Counter(item.missing[0] for item in results if len(item.missing) == 1)
    rows = [(kind, count, alone[kind]) for kind, count in used.items()]
    return sorted(rows, key=lambda row: (-row[1], -row[2], row[0]))


def report(results: Sequence[Result], top: int) -> str:
    """The table per family, the corpus figure, the ranked missing node types and the invalid templates."""
    families: dict[str, list[Result]] = {}
    for item in results:
        families.setdefault(item.family, []).append(item)
    lines = [f"{'family':<28} {'supported':>9} {'templates':>9}"]
    for family, items in sorted(families.items(), key=lambda pair: (-len(pair[1]), pair[0])):
        ok = sum(item.status == "supported" for item in items)
        lines.append(f"{family:<28} {ok:>9} {len(items):>9}")
    ok = sum(item.status == "supported" for item in results)
    share = 100.0 * ok / len(results) if results else 0.0
    lines.append(f"\nlocal image templates fully supported: {ok} of {len(results)} ({share:.0f}%)")
    ranking = missing_ranking(results)
    if ranking:
        lines.append(f"\nmissing node types ({len(ranking)}), by blocked templates using them / unblocked alone:")
        lines += [f"  {kind:<44} {count:>4} {alone:>4}" for kind, count, alone in ranking[:top]]
    invalid = [item for item in results if item.status in ("invalid", "unreadable")]
    if invalid:
        lines.append("\nall node types present but not valid:")
        lines += [f"  {item.name}: {item.problems[0]}" for item in invalid]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", help="comma-separated template names (default: every local image template)")
    parser.add_argument("--top", type=int, default=40, help="how many missing node types to list")
    parser.add_argument("--list", action="store_true", help="print one line per template")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    results = run(args.names.split(",") if args.names else None)
    if args.json:
        print(json.dumps({"results": [asdict(item) for item in results], "missing": missing_ranking(results)}))
        return 0
    if args.list:
        for item in results:
            detail = ", ".join(item.missing) if item.missing else (item.problems[0] if item.problems else "")
            print(f"{item.status:<14} {item.family:<20} {item.name}  {detail}")
    print(report(results, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
