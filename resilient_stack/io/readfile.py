"""Read an input file (or stdin) as text: bounded in size, binary data refused early.

No parser here (see :mod:`resilient_stack.io.safeyaml` and :mod:`resilient_stack.io.jsonstream`), so
reading a JSON export does not import the YAML library.
"""

from __future__ import annotations

import os
import stat
import sys

from resilient_stack.io.errors import InputError

MAX_FILE_BYTES = 1024**3
SNIFF_BYTES = 64 * 1024
_CHUNK = 8 * 1024 * 1024


def _limit() -> int:
    return int(os.environ.get("RESILIENT_STACK_MAX_INPUT_BYTES", MAX_FILE_BYTES))


def read_bytes(path: str, source: str | None = None, max_bytes: int | None = None) -> bytes:
    """Read a whole file (or stdin for "-"), bounded in size, refusing binary data early.

    The size is checked before reading (a sparse file can claim a gigabyte in a few bytes of
    disk), and the first block is sniffed for NUL bytes so garbage is refused without reading on.
    The bound is ``RESILIENT_STACK_MAX_INPUT_BYTES`` (default 1 GiB).
    """
    label = source or path
    if max_bytes is None:
        max_bytes = _limit()
    try:
        fh = sys.stdin.buffer if path == "-" else open(path, "rb")
    except FileNotFoundError:
        raise InputError(label, "no such file") from None
    except IsADirectoryError:
        raise InputError(label, "is a directory, expected a file") from None
    except OSError as exc:
        raise InputError(label, f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):  # stdin, a pipe, <(process substitution)
            data = _read_stream(fh, label, max_bytes)
        else:
            if st.st_size > max_bytes:
                raise InputError(
                    label,
                    f"file is {st.st_size} bytes, more than the {max_bytes}-byte limit (RESILIENT_STACK_MAX_INPUT_BYTES)",
                )
            if b"\x00" in os.pread(fh.fileno(), SNIFF_BYTES, 0):
                raise InputError(label, "binary data, expected YAML or JSON text")
            # one read of the size fstat gave; +1 notices a file that grew meanwhile, read on in bounded chunks
            data = fh.read(st.st_size + 1)
            if len(data) > st.st_size:
                data = _read_stream(fh, label, max_bytes, data)
    except OSError as exc:
        raise InputError(label, f"cannot read: {exc.strerror or exc}") from None
    finally:
        if path != "-":
            fh.close()
    if len(data) > max_bytes:
        raise InputError(label, f"more than the {max_bytes}-byte limit (RESILIENT_STACK_MAX_INPUT_BYTES)")
    return data


def _read_stream(fh, label: str, max_bytes: int, head: bytes = b"") -> bytes:
    """Read on to the end in bounded chunks (never asking for a gigabyte at once)."""
    if not head:
        head = fh.read(SNIFF_BYTES)
        if b"\x00" in head:
            raise InputError(label, "binary data, expected YAML or JSON text")
    chunks = [head]
    total = len(head)
    while total <= max_bytes:
        chunk = fh.read(min(_CHUNK, max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks) if len(chunks) > 1 else head


def decode_text(data: bytes, source: str) -> str:
    if b"\x00" in data[:SNIFF_BYTES]:
        raise InputError(source, "binary data, expected YAML or JSON text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(source, "not UTF-8 text, expected YAML or JSON") from None
