"""Engine overhead per node: validate + plan + execute of trivial nodes, and a fully cached re-run.

    .venv/bin/python bench/bench_engine.py [--nodes 1000] [--repeat 7]

Graphs: a chain (Const → Inc × (n−2) → Show) and a fan-out (Const → n−1 leaves). Each first run uses an empty
cache; the cached re-run repeats the chain with the cache warm, so only the output node runs. The reference is
the same node functions called directly in a Python loop, measured in the same process, so ratios compare across
machines. Targets: under 50 µs per node, cached 1,000-node re-run under 20 ms.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graph.cache import OutputCache
from graph.events import Event
from graph.executor import Executor, InterruptFlag
from graph.formats import load_workflow
from graph.registry import NodeRegistry
from graph.sockets import Socket, register_socket_type
from graph.spec import NoOutputs, Outputs, node
from graph.validate import Limits, validate
from graph.widgets import Range
from graph.workflow import Workflow

register_socket_type("BENCH_NUMBER")
BENCH = NodeRegistry()


class Number(Outputs):
    value: Annotated[int, Socket("BENCH_NUMBER")]


@node("BenchConst", category="bench", registry=BENCH)
def const(value: Annotated[int, Range(-(2**31), 2**31)] = 0) -> Number:
    return Number(value=value)


@node("BenchInc", category="bench", registry=BENCH)
def inc(x: Annotated[int, Socket("BENCH_NUMBER")], by: Annotated[int, Range(-100, 100)] = 1) -> Number:
    return Number(value=x + by)


@node("BenchShow", category="bench", output_node=True, registry=BENCH)
def show(x: Annotated[int, Socket("BENCH_NUMBER")]) -> NoOutputs:
    return NoOutputs(ui={"value": [x]})


def chain(n: int) -> dict[str, Any]:
    prompt: dict[str, Any] = {"0": {"class_type": "BenchConst", "inputs": {"value": 0}}}
    for i in range(1, n - 1):
        prompt[str(i)] = {"class_type": "BenchInc", "inputs": {"x": [str(i - 1), 0], "by": 1}}
    prompt[str(n - 1)] = {"class_type": "BenchShow", "inputs": {"x": [str(n - 2), 0]}}
    return prompt


def fan_out(n: int) -> dict[str, Any]:
    prompt: dict[str, Any] = {"0": {"class_type": "BenchConst", "inputs": {"value": 0}}}
    for i in range(1, n):
        prompt[str(i)] = {"class_type": "BenchShow", "inputs": {"x": ["0", 0]}}
    return prompt


def fan_out_targets(n: int) -> tuple[dict[str, Any], list[str]]:
    """Const → n−1 non-output leaves, run as partial-execution targets: a re-run can be served fully from cache."""
    prompt: dict[str, Any] = {"0": {"class_type": "BenchConst", "inputs": {"value": 0}}}
    for i in range(1, n):
        prompt[str(i)] = {"class_type": "BenchInc", "inputs": {"x": ["0", 0], "by": 1}}
    return prompt, [str(i) for i in range(1, n)]


def direct_chain(n: int) -> None:
    value = const(0).value
    for _ in range(n - 2):
        value = inc(value, 1).value
    show(value)


def timed(action: Callable[[], object], repeat: int, setup: Callable[[], object] | None = None) -> list[float]:
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def run_once(executor: Executor, workflow: Workflow, events: list[Event], targets: list[str] | None = None) -> None:
    events.clear()
    result = executor.run(workflow, job_id="bench", emit=events.append, interrupt=InterruptFlag(), targets=targets)
    if result.status != "succeeded":
        raise SystemExit(f"benchmark workflow failed: {result.error or result.issues}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n, repeat = args.nodes, args.repeat
    limits = Limits(max_nodes=max(10_000, n))
    executor = Executor(BENCH, cache=OutputCache(), limits=limits)
    events: list[Event] = []

    reference = min(timed(lambda: direct_chain(n), repeat * 3))
    rows: list[tuple[str, float, str]] = []

    leaves, leaf_ids = fan_out_targets(n)
    graphs: list[tuple[str, dict[str, Any], list[str] | None]] = [
        ("chain", chain(n), None),
        ("fan-out", fan_out(n), None),
        ("fan-out to targets", leaves, leaf_ids),
    ]
    for name, prompt, targets in graphs:
        workflow = load_workflow(prompt, BENCH)
        run = functools.partial(run_once, executor, workflow, events, targets)
        load = min(timed(functools.partial(load_workflow, prompt, BENCH), repeat))
        check = min(timed(functools.partial(validate, workflow, BENCH, limits=limits, targets=targets), repeat))
        first = timed(run, repeat, setup=executor.cache.clear)
        rows.append((f"{name}: load API prompt", load, ""))
        rows.append((f"{name}: validate only", check, ""))
        median = f"median {statistics.median(first) * 1e3:.1f} ms"
        rows.append((f"{name}: validate + plan + execute, empty cache", min(first), median))
        run()
        again = timed(run, repeat)
        notes = {"chain": "only the output node runs", "fan-out": f"{n - 1} output nodes always run"}
        note = notes.get(name, "nothing runs")
        median = f"median {statistics.median(again) * 1e3:.1f} ms"
        rows.append((f"{name}: re-run, warm cache ({note})", min(again), median))

    print(f"engine overhead, {n} trivial nodes, best of {repeat} (python {sys.version.split()[0]})")
    print(
        f"reference: the same functions called directly in a loop: {reference * 1e3:.3f} ms "
        f"({reference / n * 1e6:.2f} µs/node)"
    )
    for label, seconds, extra in rows:
        per_node = seconds / n * 1e6
        print(
            f"  {label:<62} {seconds * 1e3:8.2f} ms  {per_node:7.2f} µs/node  "
            f"{seconds / reference:7.1f}× reference  {extra}"
        )
    chain_first = rows[2][1] / n * 1e6
    fan_first = rows[6][1] / n * 1e6
    cached = rows[3][1] * 1e3
    cached_targets = rows[11][1] * 1e3
    print(
        f"targets: < 50 µs/node → chain {chain_first:.1f}, fan-out {fan_first:.1f}; "
        f"cached {n}-node re-run < 20 ms → chain {cached:.1f} ms, fan-out to targets {cached_targets:.1f} ms"
    )


if __name__ == "__main__":
    main()
