"""The client commands: ``streamway chat`` and ``streamway get``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

CHAT_HELP = (
    "Ask the agent and print its answer as it is generated."
    "\n\n"
    "By default the streamway service at --url (POST /streaming). With --agentcore ARN: a "
    "Bedrock AgentCore runtime through the AWS client (botocore's bedrock-agentcore "
    "InvokeAgentRuntime; credentials and Region as the AWS CLI finds them, the Region from "
    "the ARN), printing each SSE event as it arrives, or the JSON answer with --json. The "
    "session id is printed first (on stderr); pass it to --session to continue the "
    "conversation. --endpoint-url points the client elsewhere, e.g. at streamway local "
    "--agentcore (http://127.0.0.1:3000)."
)


def chat(
    prompt: Annotated[str, typer.Argument(help="What to ask the agent.")],
    url: Annotated[
        str, typer.Option(help="Base URL of a streamway service.")
    ] = "http://127.0.0.1:8080",
    agentcore: Annotated[
        str | None,
        typer.Option(metavar="ARN", help="Invoke this AgentCore runtime instead of --url."),
    ] = None,
    session: Annotated[
        str | None,
        typer.Option(help="AgentCore session id, 33-256 characters (a new one when absent)."),
    ] = None,
    qualifier: Annotated[
        str | None, typer.Option(help="AgentCore endpoint name (DEFAULT when absent).")
    ] = None,
    endpoint_url: Annotated[
        str | None, typer.Option(help="Where the AgentCore client sends its requests.")
    ] = None,
    json_answer: Annotated[
        bool, typer.Option("--json", help="AgentCore: ask for one JSON answer and print it.")
    ] = False,
) -> None:
    """Ask the agent and print its answer as it is generated."""
    if agentcore is not None:
        _chat_agentcore(agentcore, prompt, session, qualifier, endpoint_url, json_answer)
        return
    import httpx

    try:
        with httpx.stream(
            "POST",
            url.rstrip("/") + "/streaming",
            json={"request": prompt},
            timeout=httpx.Timeout(10.0, read=300.0),
        ) as response:
            if response.status_code != 200:
                response.read()
                typer.echo(_error_message(response.text, response.status_code), err=True)
                raise typer.Exit(1)
            for piece in response.iter_text():
                sys.stdout.write(piece)
                sys.stdout.flush()
    except httpx.TransportError as error:
        # A stream the server aborted (the model failed mid-answer) lands here too.
        typer.echo(f"\nstreamway: the answer did not complete: {error!r}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.write("\n")


def _chat_agentcore(
    arn: str,
    prompt: str,
    session: str | None,
    qualifier: str | None,
    endpoint_url: str | None,
    json_answer: bool,
) -> None:
    from streamway.cli.agentcore_chat import AgentCoreCall, ChatFailed, run

    try:
        run(AgentCoreCall(arn, prompt, session, qualifier, endpoint_url, json_answer))
    except ChatFailed as error:
        typer.echo(f"\nstreamway: {error}", err=True)
        raise typer.Exit(1) from None


def _error_message(body: str, status: int) -> str:
    try:
        error = json.loads(body)["error"]
        return f"streamway: {status} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"streamway: {status}: {body}"


GET_HELP = (
    "Download a file with a progress bar (size, speed, time left), resuming and verifying it."
    "\n\n"
    "The file is written to FILE.part, with FILE.part.json holding what is needed to resume, "
    "and renamed to FILE only when complete. An interrupted download resumes where it "
    "stopped: by itself up to --retries times, and again when the same command is run later. "
    "It asks for the rest with Range and If-Range, so if the object changed on the server in "
    "the meantime it starts over instead of mixing two versions."
    "\n\n"
    "At the end the size is checked, and the SHA-256 too when the server sends "
    "Repr-Digest: sha-256=:...: (streamway does when its store knows the checksum)."
    "\n\n"
    "Without -o the file is named as the server suggests (Content-Disposition, else the "
    "URL), reduced to a base name in the current directory; a suggested name with control "
    "characters is refused. An existing file of that name is never overwritten unless "
    "--force is given (as curl -OJ refuses); resuming that URL's own partial download is fine."
    "\n\n"
    "Exit status: 0 when the file is complete and verified; 1 otherwise (HTTP error, "
    "connection lost after all retries, size or checksum mismatch, the file exists, an "
    "unsafe suggested name; a bad checksum deletes the partial file)."
)


def get(
    url: Annotated[
        str, typer.Argument(help="The URL to download, e.g. http://127.0.0.1:8080/download/KEY.")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write. Default: the name the server suggests in Content-Disposition, "
            "else the last segment of the URL, in the current directory.",
        ),
    ] = None,
    retries: Annotated[
        int,
        typer.Option(
            min=0,
            help="How many times to resume automatically after a dropped connection or a "
            "502/503/504 before giving up (the partial file is kept either way).",
        ),
    ] = 3,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            "-f",
            help="Overwrite an existing file of the server-suggested name (with -o the "
            "named file is always overwritten).",
        ),
    ] = False,
) -> None:
    """Download a file with a progress bar, resuming and verifying it."""
    from streamway.downloader import DownloadFailed, download

    bar = _RichProgress(enabled=not quiet)
    try:
        result = download(url, output, retries=retries, progress=bar, force=force)
    except DownloadFailed as error:
        typer.echo(f"streamway: {error}", err=True)
        raise typer.Exit(1) from None
    check = "sha-256 verified" if result.sha256_verified else "size verified, no checksum sent"
    resumed = f", resumed at byte {result.resumed_from}" if result.resumed_from else ""
    typer.echo(f"{result.path}: {result.size} bytes ({check}{resumed})", err=True)


class _RichProgress:
    """Draws the downloader's progress on stderr with rich: size, speed and time left."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def start(self, name: str, total: int | None, completed: int) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(name, total=total, completed=completed)
        self._progress.start()

    def advance(self, nbytes: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, nbytes)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
