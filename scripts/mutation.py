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
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTEST = f"{sys.executable} -m pytest -x -q -p no:cacheprovider"


@dataclass(frozen=True)
class Target:
    module: str
    tests: str
    timeout_s: float


TARGETS = {
    "ranges": Target("src/streamway/http/ranges.py", "tests/http/test_ranges.py", 60),
    "content_disposition": Target(
        "src/streamway/http/content_disposition.py",
        "tests/http/test_content_disposition.py",
        60,
    ),
    "keys": Target("src/streamway/storage/keys.py", "tests/storage/test_keys_and_local.py", 60),
    "rest_event": Target(
        "src/streamway/aws_lambda/events/rest_v1.py", "tests/aws_lambda/test_events.py", 60
    ),
    "streaming_sink": Target(
        "src/streamway/aws_lambda/streaming_sink.py", "tests/aws_lambda/test_runtime.py", 180
    ),
    "prelude": Target(
        "src/streamway/local/stream_relay.py",
        "tests/local/test_response_head.py tests/local/test_gateway.py",
        300,
    ),
    "cancellation": Target(
        "src/streamway/agent/local_model.py",
        "tests/service/test_disconnects_and_load.py",
        600,
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
    config.write_text(
        "[cosmic-ray]\n"
        f'module-path = "{target.module}"\n'
        f"timeout = {target.timeout_s}\n"
        "excluded-modules = []\n"
        f'test-command = "{PYTEST} {target.tests}"\n'
        '[cosmic-ray.distributor]\nname = "local"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": f"{work / 'src'}{os.pathsep}{work}"}

    def cosmic_ray(*args: str) -> None:
        subprocess.run(["cosmic-ray", *args], cwd=work, env=env, check=True)

    cosmic_ray("init", str(config), str(session))
    cosmic_ray("--verbosity=ERROR", "baseline", str(config))
    cosmic_ray("exec", str(config), str(session))
    summary = summarise(session)
    (results / f"{name}.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def summarise(session: Path) -> dict[str, object]:
    """Counts by outcome, and each survivor as module:line, operator and the diff."""
    with sqlite3.connect(session) as db:
        rows = db.execute(
            "SELECT m.module_path, m.start_pos_row, m.operator_name, r.test_outcome, r.diff "
            "FROM mutation_specs m JOIN work_results r ON r.job_id = m.job_id"
        ).fetchall()
    outcomes: dict[str, int] = {}
    survivors = []
    for module, line, operator, outcome, diff in rows:
        outcome = outcome.lower()
        if outcome == "survived" and in_annotation(diff):
            outcome = "equivalent (annotation)"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome == "survived":
            survivors.append({"where": f"{module}:{line}", "operator": operator, "diff": diff})
    return {"generated": len(rows), "outcomes": outcomes, "survivors": survivors}


def in_annotation(diff: str) -> bool:
    """A mutant of ``X | None`` in a type hint: every module here has ``from __future__ import
    annotations``, so hints are never evaluated and the mutant is equivalent by construction."""
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-") and "---" not in line]
    return (
        len(removed) == 1
        and " | None" in removed[0]
        and ("->" in removed[0] or re.search(r"\w: [\w\[\], ]+ \| None", removed[0]) is not None)
    )


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
            print(
                f"\n== {name} ({TARGETS[name].module}): {summary['generated']} mutants, "
                f"{summary['outcomes']}"
            )
            for survivor in summary["survivors"]:  # type: ignore[attr-defined]
                print(f"-- survived: {survivor['where']} {survivor['operator']}")
                print(survivor["diff"], flush=True)


if __name__ == "__main__":
    main()
