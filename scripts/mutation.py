"""Mutation testing over the modules where a silent change costs most (run by scripts/mutation).

Each target is one module and the tests that cover it. Cosmic Ray mutates the module on disk,
one mutant at a time, and runs those tests: a mutant the tests still pass is a "survivor", a
change to the code that no test notices. It runs in a scratch copy of the checkout, so an
interrupted run never leaves a mutant in the working tree; the copy is put first on
PYTHONPATH, so the servers the tests start as subprocesses import the mutant too.

Slow (each mutant runs its tests; the model and gateway targets take an hour or more), so it
is not part of CI: docs/development.md keeps the last result.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# Only the pytest plugins the tests use: loading every installed one (hypothesis,
# schemathesis) doubles the cost of each mutant's run.
PYTEST = f"{sys.executable} -m pytest -x -q -p no:cacheprovider -p asyncio -p timeout -p anyio"


@dataclass(frozen=True)
class Target:
    """Modules to mutate, the tests that cover them (pytest arguments: keep them few and fast,
    a run costs mutants x test time), and optionally the only lines of a single module to
    mutate (``"12-30"``: the rest of the module belongs to other tests)."""

    modules: tuple[str, ...]
    tests: str
    timeout_s: float
    lines: tuple[str, ...] = ()
    hypothesis: bool = False  # whether the tests use it (its pytest plugin is then loaded)


def target(module: str, tests: str, timeout_s: float, **options: Any) -> Target:
    return Target((module,), tests, timeout_s, **options)


TARGETS = {
    "ranges": target(
        "src/streamway/http/ranges.py", "tests/http/test_ranges.py", 60, hypothesis=True
    ),
    "content_disposition": target(
        "src/streamway/http/content_disposition.py",
        "tests/http/test_content_disposition.py",
        60,
        hypothesis=True,
    ),
    "keys": target(
        "src/streamway/storage/keys.py", "tests/storage/test_keys_and_local.py", 60, hypothesis=True
    ),
    "rest_event": target(
        "src/streamway/aws_lambda/events/rest_v1.py", "tests/aws_lambda/test_events.py", 60
    ),
    "events": Target(
        (
            "src/streamway/aws_lambda/events/base.py",
            "src/streamway/aws_lambda/events/http_v2.py",
            "src/streamway/aws_lambda/events/pass_through.py",
        ),
        "tests/aws_lambda/test_events.py",
        60,
    ),
    "streaming_sink": target(
        "src/streamway/aws_lambda/streaming_sink.py",
        # The tests that stream through the sink (the rest start a function for other ends).
        "tests/aws_lambda/test_runtime.py -k 'prelude_delimiter or error_trailers or"
        " error_endpoint or empty_body or hung_up or binary_body'",
        180,
    ),
    "prelude": target(
        "src/streamway/local/stream_relay.py",
        # The relay alone (test_stream_relay) and the 16 KB bound end to end.
        "tests/local/test_stream_relay.py tests/local/test_response_head.py"
        " tests/local/test_gateway_limits.py -k 'prelude or stream_relay'",
        120,
        lines=("100-158",),  # relay_stream and _read_prelude: the 16 KB prelude rule
    ),
    "response_head": target(
        "src/streamway/local/response_head.py", "tests/local/test_response_head.py", 60
    ),
    "gateway_limits": target(
        "src/streamway/local/request_cycle.py",
        "tests/local/test_gateway_limits.py -k 'mb or 6_mb'",
        120,
        lines=("183-194", "342-358"),  # the 10 MB payload limit and Lambda's 6 MB event
    ),
    "limits": target("src/streamway/http/limits.py", "tests/http/test_limits.py", 120),
    "head_limits": target(
        "src/streamway/http/head_limits.py", "tests/http/test_head_limits.py", 60
    ),
    "cancellation": target(
        "src/streamway/agent/local_model.py",
        # The exact bound (tokens generated <= tokens sent + 1) over /streaming and
        # /invocations, and the token loop driven in-process (the cancel signal, the end of
        # the tokens, the usage count); each run loads the model, so the lines are only the
        # token loop's cancel check and count, and the wait for the hop in progress.
        "tests/service/test_cancellation_bounds.py tests/agent/test_local_model_stream.py"
        " -k 'leaves or cancel_signal or read_to_its_end'",
        600,
        lines=("194-206", "222-232"),
    ),
}


def scratch_copy(destination: Path) -> None:
    """The tracked files of the checkout as they are now (committed or not)."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO / os.fsdecode(name)
        if source.is_file():
            target = destination / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def run_target(name: str, target: Target, work: Path, results: Path) -> dict[str, object]:
    config = work / f"{name}.toml"
    session = work / f"{name}.sqlite"
    modules = ", ".join(f'"{module}"' for module in target.modules)
    lines = ", ".join(f'"{span}"' for span in target.lines)
    plugin = " -p hypothesispytest" if target.hypothesis else ""
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = [{modules}]\n"
        f"timeout = {target.timeout_s}\n"
        "excluded-modules = []\n"
        f'test-command = "{PYTEST}{plugin} {target.tests}"\n'
        '[cosmic-ray.distributor]\nname = "local"\n'
        f'[cosmic-ray.filters.line-filter.lines]\n"{target.modules[0]}" = [{lines}]\n',
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PYTHONPATH": f"{work / 'src'}{os.pathsep}{work}",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }

    def cosmic_ray(*args: str) -> None:
        subprocess.run(["cosmic-ray", *args], cwd=work, env=env, check=True)

    cosmic_ray("init", str(config), str(session))
    if target.lines:
        subprocess.run(
            ["cr-filter-lines", "--config", str(config), str(session)], cwd=work, check=True
        )
    skip_annotations(session, work)
    cosmic_ray("--verbosity=ERROR", "baseline", str(config))
    cosmic_ray("exec", str(config), str(session))
    summary = summarise(session)
    (results / f"{name}.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


ANNOTATION = "equivalent (annotation)"


def skip_annotations(session: Path, work: Path) -> None:
    """Marks the mutants inside type hints as skipped before any test runs: every module here
    has ``from __future__ import annotations``, so hints are never evaluated and a mutant of
    ``X | None`` is equivalent by construction (and would cost a test run each)."""
    spans: dict[str, list[tuple[tuple[int, int], tuple[int, int]]]] = {}
    with sqlite3.connect(session) as db:
        rows = db.execute(
            "SELECT m.job_id, m.module_path, m.start_pos_row, m.start_pos_col "
            "FROM mutation_specs m LEFT JOIN work_results r ON r.job_id = m.job_id "
            "WHERE r.job_id IS NULL"  # not already skipped by the line filter
        ).fetchall()
        skipped = []
        for job_id, module, row, col in rows:
            if module not in spans:
                spans[module] = annotation_spans((work / module).read_text(encoding="utf-8"))
            if any(start <= (row, col) < end for start, end in spans[module]):
                skipped.append((job_id,))
        db.executemany(
            "INSERT INTO work_results (worker_outcome, output, job_id) "
            f"VALUES ('SKIPPED', '{ANNOTATION}', ?)",
            skipped,
        )


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the type hints of a module are, as (line, column) from and to."""
    hints: list[ast.expr] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            hints.append(node.returns)
        elif isinstance(node, ast.arg | ast.AnnAssign) and node.annotation:
            hints.append(node.annotation)
    return [
        ((hint.lineno, hint.col_offset), (hint.end_lineno or 0, hint.end_col_offset or 0))
        for hint in hints
    ]


def summarise(session: Path) -> dict[str, object]:
    """Counts by outcome, and each survivor as module:line, operator and the diff. Mutants the
    line filter skipped (outside the target's lines) are not counted."""
    with sqlite3.connect(session) as db:
        rows = db.execute(
            "SELECT m.module_path, m.start_pos_row, m.operator_name, r.worker_outcome, "
            "r.output, r.test_outcome, r.diff "
            "FROM mutation_specs m JOIN work_results r ON r.job_id = m.job_id"
        ).fetchall()
    outcomes: dict[str, int] = {}
    survivors = []
    for module, line, operator, worker, output, tested, diff in rows:
        if worker == "SKIPPED":
            if output != ANNOTATION:
                continue
            outcome = ANNOTATION
        else:
            outcome = (tested or worker).lower()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome == "survived":
            survivors.append({"where": f"{module}:{line}", "operator": operator, "diff": diff})
    generated = sum(outcomes.values())
    return {"generated": generated, "outcomes": outcomes, "survivors": survivors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=", ".join(TARGETS))
    parser.add_argument(
        "--out", type=Path, default=REPO / "artifacts" / "mutation", help="JSON results here"
    )
    args = parser.parse_args()
    names = args.targets or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {', '.join(TARGETS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="streamway-mutation-") as scratch:
        work = Path(scratch)
        scratch_copy(work)
        for name in names:
            summary = run_target(name, TARGETS[name], work, args.out)
            modules = ", ".join(TARGETS[name].modules)
            print(f"\n== {name} ({modules}): {summary['generated']} mutants, {summary['outcomes']}")
            for survivor in summary["survivors"]:  # type: ignore[attr-defined]
                print(f"-- survived: {survivor['where']} {survivor['operator']}")
                print(survivor["diff"], flush=True)


if __name__ == "__main__":
    main()
