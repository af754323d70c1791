"""The client commands: ``streamway chat``, ``streamway get`` and ``streamway put``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from streamway.downloader import Downloaded

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
    "\n\n"
    "Against a streamway service the answer is read as SSE. When the connection drops "
    "mid-answer, the chat reconnects (GET /streaming/ID with Last-Event-ID) and goes on "
    "where it stopped, without repeating or losing a piece; it says so on stderr and tries "
    "--retries times (waiting 0.25 s, 0.5 s, 1 s...). It fails with a clear message when the "
    "server no longer has the answer (404, or 410 when the part after the last piece "
    "printed was dropped). Ctrl-C stops the generation on the server too (DELETE "
    "/streaming/ID) and exits with status 130."
    "\n\n"
    "With --agentcore a streamed answer is resumed the same way: the same invocation again "
    "in the same session with Last-Event-ID (the runtime must pass that header on; "
    "streamway's deploy allowlists it)."
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
    retries: Annotated[
        int,
        typer.Option(
            min=0,
            help="How many times to reconnect and resume after the connection drops "
            "mid-answer (0: never).",
        ),
    ] = 3,
) -> None:
    """Ask the agent and print its answer as it is generated."""
    if agentcore is not None:
        call = (agentcore, prompt, session, qualifier, endpoint_url, json_answer)
        _chat_agentcore(*call, retries=retries)
        return
    from streamway.cli.stream_chat import ChatFailed, StreamChat

    printed = False

    def write(text: str) -> None:
        nonlocal printed
        printed = printed or bool(text)
        sys.stdout.write(text)
        sys.stdout.flush()

    def notice(text: str) -> None:
        # On a terminal the notice would run on from the answer's last word: a line of its own.
        typer.echo(f"{chr(10) if printed else ''}streamway: {text}", err=True)

    chat = StreamChat(url.rstrip("/"), prompt, write, notice, retries=retries)
    try:
        chat.run()
    except ChatFailed as error:
        # A stream the server aborted (the model failed mid-answer) lands here too.
        typer.echo(f"\nstreamway: {error}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        told = ": the server was told to stop generating" if chat.stream_id else ""
        typer.echo(f"\nstreamway: stopped{told}", err=True)
        raise typer.Exit(130) from None
    sys.stdout.write("\n")


def _chat_agentcore(
    arn: str,
    prompt: str,
    session: str | None,
    qualifier: str | None,
    endpoint_url: str | None,
    json_answer: bool,
    *,
    retries: int,
) -> None:
    from streamway.cli.agentcore_chat import AgentCoreCall, ChatFailed, run

    try:
        run(AgentCoreCall(arn, prompt, session, qualifier, endpoint_url, json_answer), retries)
    except ChatFailed as error:
        typer.echo(f"\nstreamway: {error}", err=True)
        raise typer.Exit(1) from None


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
    "Big objects come faster in parts: --parallel N ranged GETs at once, each of at most "
    "--part-size bytes, written in place into FILE.part. Through API Gateway and Lambda one "
    "stream carries at most 200 MB and, past its first 6 MB, about 2 MB/s; parts get past "
    "both. By default an object larger than one part is fetched over 8 connections, a "
    "smaller one over one. Each part resumes where it stopped; every part asks with "
    "If-Range, so an object replaced mid-way restarts the download (once) instead of mixing "
    "versions. A server that does not offer byte ranges gets one stream."
    "\n\n"
    "Exit status: 0 when the file is complete and verified; 1 otherwise (HTTP error, "
    "connection lost after all retries, size or checksum mismatch, the file exists, an "
    "unsafe suggested name; a bad checksum deletes the partial file)."
)


ParallelOption = Annotated[
    int | None,
    typer.Option(
        "--parallel",
        "-n",
        min=1,
        show_default="8 when the object is larger than one part, else 1",
        help="Ranged GETs at once (1: one stream).",
    ),
]
PartSizeOption = Annotated[
    str,
    typer.Option(
        help="Largest part of a parallel download, in bytes or with a unit (64M, 64MiB, "
        "1G). Keep it under 200M behind Lambda.",
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        min=1,
        help="Seconds to wait for the server (to connect, for the first byte, or during a "
        "pause in the data) before a connection counts as dropped and is retried. A cold "
        "Lambda answers its first byte only after its init.",
    ),
]


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
            "502/503/504 before giving up (per part with --parallel; the partial file is kept "
            "either way).",
        ),
    ] = 3,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    parallel: ParallelOption = None,
    part_size: PartSizeOption = "64MiB",
    timeout: TimeoutOption = 60.0,
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
        result = download(
            url,
            output,
            retries=retries,
            progress=bar,
            force=force,
            parallel=parallel,
            part_size=parse_size(part_size),
            timeout_s=timeout,
        )
    except DownloadFailed as error:
        typer.echo(f"streamway: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(_summary(result), err=True)


def _summary(result: Downloaded) -> str:
    check = "sha-256 verified" if result.sha256_verified else "size verified, no checksum sent"
    parts = f", {result.parts} connections" if result.parts > 1 else ""
    resumed = ""
    if result.resumed_from and result.parts > 1:
        resumed = f", resumed with {result.resumed_from} bytes kept"
    elif result.resumed_from:
        resumed = f", resumed at byte {result.resumed_from}"
    return f"{result.path}: {result.size} bytes ({check}{parts}{resumed})"


_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "kib": 1024, "mib": 1024**2}
_UNITS |= {"gib": 1024**3, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3}


def parse_size(text: str) -> int:
    """``64MiB``, ``64M`` (binary, as curl and most tools read it), ``67108864``; at least 1 MiB."""
    import re

    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if unit in {"k", "m", "g"}:
        unit += "ib"
    if match is None or unit not in _UNITS:
        raise typer.BadParameter(f"{text!r} is not a size such as 64M, 64MiB or 67108864")
    size = int(match.group(1)) * _UNITS[unit]
    if size < 1024 * 1024:
        raise typer.BadParameter("a part must be at least 1 MiB")
    return size


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


PUT_HELP = (
    "Upload a file with a progress bar over tus 1.0 (POST /uploads), resuming and verifying it."
    "\n\n"
    "URL is the service's base URL (or its /uploads endpoint). The file is sent in PATCH "
    "parts of --part-size bytes (default 8M, at most 9M: API Gateway refuses a request body "
    "over 10 MB; smaller when the server's OPTIONS announces a lower part limit), each with "
    "Upload-Checksum: sha256, and becomes the object --name (default: "
    "the file's name), downloadable at /download/NAME."
    "\n\n"
    "An interrupted upload resumes: by itself up to --retries times, and again when the same "
    "command is run later (the upload URL is remembered per file, size, mtime, URL and name in "
    "$XDG_STATE_HOME/streamway/uploads.json); the server's offset says where to go on. An "
    "upload the server no longer knows (expired, terminated) starts over."
    "\n\n"
    "At the end the object's Repr-Digest (HEAD /download/NAME) is compared with the file's "
    "SHA-256. Exit status: 0 when the upload is complete (and verified when the server sends "
    "a digest); 1 otherwise."
)


def put(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="File to upload.")
    ],
    url: Annotated[
        str, typer.Argument(help="Base URL of a streamway service, e.g. http://127.0.0.1:8080.")
    ],
    name: Annotated[
        str | None, typer.Option(help="Object key to create. Default: the file's name.")
    ] = None,
    part_size: Annotated[
        str, typer.Option(help="Bytes per PATCH, with a unit (8M, 8MiB); 1M to 9M.")
    ] = "8MiB",
    retries: Annotated[
        int,
        typer.Option(
            min=0, help="Times to resume automatically after a dropped connection or a 5xx."
        ),
    ] = 5,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    timeout: TimeoutOption = 60.0,
) -> None:
    """Upload a file with a progress bar over tus, resuming and verifying it."""
    from streamway.uploader import MAX_PART_SIZE, UploadFailed, upload

    size = parse_size(part_size)
    if size > MAX_PART_SIZE:
        raise typer.BadParameter("a part must be at most 9 MiB (API Gateway's 10 MB body cap)")
    bar = _RichProgress(enabled=not quiet)
    try:
        result = upload(
            file, url, key=name, part_size=size, retries=retries, progress=bar, timeout_s=timeout
        )
    except UploadFailed as error:
        typer.echo(f"streamway: {error}", err=True)
        raise typer.Exit(1) from None
    check = "sha-256 verified" if result.sha256_verified else "no checksum sent by the server"
    resumed = f", resumed at byte {result.resumed_from}" if result.resumed_from else ""
    parts = (
        f", parts of {result.part_size} bytes: the server's limit"
        if result.part_size < size
        else ""
    )
    typer.echo(f"{result.download_url}: {result.size} bytes ({check}{resumed}{parts})", err=True)
