"""The stack's outputs (``pulumi stack output --json``): from a file, from stdin, or from Pulumi itself.

The operator's commands find the web hosts there. Reading Pulumi's answer is the only process this module starts;
every problem is one line (:class:`~resilient_stack.io.errors.InputError`): pulumi missing, a stack Pulumi does not
know, a document that is not JSON.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from resilient_stack.io.errors import InputError
from resilient_stack.io.readfile import decode_text, read_bytes
from resilient_stack.io.safeyaml import load_json_text

PULUMI_TIMEOUT = 300  # seconds: a remote backend answers in a few; a hung login must not hang the command


def load_outputs(stack: str, path: str | None = None, cwd: str | None = None) -> tuple[Any, str]:
    """(the outputs, the name errors give them): ``path`` (``-``: stdin) when given, else Pulumi's answer for
    ``stack`` in ``cwd`` (the project's directory; default: the current one)."""
    if path:
        source = "<stdin>" if path == "-" else path
        return load_json_text(decode_text(read_bytes(path, source), source), source), source
    source = f"stack {stack}"
    return load_json_text(_pulumi_outputs(stack, cwd, source), source), source


def _pulumi_outputs(stack: str, cwd: str | None, source: str) -> bytes:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise InputError(
            source,
            "pulumi is not on PATH: install it (https://www.pulumi.com/docs/install/), or give "
            f"the outputs: `pulumi stack output --json --stack {stack} > outputs.json`, then "
            "--outputs outputs.json",
        )
    if cwd is not None and not os.path.isdir(cwd):
        raise InputError(cwd, "--cwd: no such directory (the Pulumi project's, where Pulumi.yaml is)")
    argv = [pulumi, "stack", "output", "--json", "--stack", stack]
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL, timeout=PULUMI_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise InputError(
            source, f"`pulumi stack output --json --stack {stack}` did not answer in {PULUMI_TIMEOUT} s"
        ) from None
    except OSError as exc:
        raise InputError(source, f"cannot run {pulumi}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        said = [ln.strip() for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
        raise InputError(
            source,
            f"`pulumi stack output --json --stack {stack}` failed (exit {proc.returncode})"
            + (f": {said[-1][:300]}" if said else "")
            + " (--cwd: the project's directory)",
        )
    return proc.stdout
