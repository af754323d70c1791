"""A real OpenAI-compatible server: llama-cpp-python's ``llama_cpp.server`` in a subprocess.

It serves the same SmolLM2-135M GGUF the local provider embeds, under the model name the
tests ask for, so ``openai:<name>`` is exercised against a server nobody here wrote.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from streamway.agent.local_model import bundled_gguf
from tests.servers import free_port, stop_process, wait_until_listening


@contextmanager
def llama_cpp_server(model_alias: str, *, context_tokens: int = 2048) -> Iterator[str]:
    """Runs the server until the block ends; yields its OpenAI base URL (``.../v1``)."""
    port = free_port()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(bundled_gguf()),
                "--model_alias",
                model_alias,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                str(context_tokens),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            try:
                wait_until_listening(port, process, timeout_s=120)
            except RuntimeError as error:
                output.seek(0)
                raise RuntimeError(output.read().decode(errors="replace")[-4000:]) from error
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            stop_process(process)
