"""Whether the functions will be able to import the user's code, asked of a child process.

``streamway local --app``/``--handler`` imports nothing of the user's into the gateway (the
gateway must not run their module's code, nor hold their imports); a short-lived
``python -m streamway.local.import_check`` with the functions' own environment and working
directory imports it instead, so a typo fails at start-up with one line
(``cannot import module 'nope': No module named 'nope'``) rather than as a 502 on the first request.
``--reload`` asks again after every change.

The child prints its verdict as its last line of standard output (the user's module may
print too) and exits 1 when the code cannot be served.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

from streamway.local.function_spec import FunctionSpec

_OK = "ok"
#: A module whose import takes longer than this is not judged: the functions will tell.
CHECK_TIMEOUT_S = 120.0


def check(spec: FunctionSpec) -> str | None:
    """The reason ``spec``'s code cannot be imported by its processes, or None when it can
    (or when the check could not tell in time: then the first request will)."""
    try:
        done = subprocess.run(
            _command(spec), env=spec.process_env(), capture_output=True, timeout=CHECK_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return None
    return _verdict(done.returncode, done.stdout)


async def check_async(spec: FunctionSpec) -> str | None:
    """:func:`check` without blocking the event loop (for ``--reload``)."""
    process = await asyncio.create_subprocess_exec(
        *_command(spec),
        env=spec.process_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            stdout, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return None
    return _verdict(process.returncode, stdout)


def _command(spec: FunctionSpec) -> list[str]:
    kind, target = ("--handler", spec.handler) if spec.handler is not None else ("--app", spec.app)
    return [sys.executable, "-m", "streamway.local.import_check", kind, target]


def _verdict(returncode: int | None, stdout: bytes) -> str | None:
    lines = stdout.decode("utf-8", "replace").strip().splitlines()
    last = lines[-1] if lines else ""
    if returncode == 0 and last == _OK:
        return None
    return last or f"the import check exited with {returncode}"


# --- the child ---------------------------------------------------------------------------


def _check(kind: str, target: str) -> str:
    """Loads the code as the runtime will (its own loaders, so the verdict is the init
    error a function would report); ``ok`` or the cause."""
    from streamway.aws_lambda.handler import load_handler
    from streamway.aws_lambda.loading import InitError
    from streamway.aws_lambda.runtime import load_app

    try:
        if kind == "--app":
            load_app(target)
        else:
            load_handler(target)
    except InitError as error:
        return str(error)
    except Exception as error:  # the module itself raised while it was imported
        return f"importing {target!r} failed: {type(error).__name__}: {error}"
    return _OK


def main() -> None:
    kind, target = sys.argv[1:3]
    verdict = _check(kind, target)
    print("\n" + " ".join(verdict.split()), flush=True)
    sys.exit(0 if verdict == _OK else 1)


if __name__ == "__main__":
    main()
