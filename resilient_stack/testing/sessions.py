"""A podman session: the containers, networks and images one run creates, always removed (on errors, Ctrl-C,
SIGTERM, SIGHUP too), named ``rs-<6 hex>-<name>`` so that parallel runs never collide. The podman calls are
:mod:`resilient_stack.testing.podman`'s."""

from __future__ import annotations

import secrets
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from resilient_stack.testing import podman

__all__ = ["Session"]


class _Terminated(SystemExit):
    """Raised from SIGTERM/SIGHUP inside a Session so that its cleanup runs (SIGINT: KeyboardInterrupt)."""


class Session:
    """Context manager owning the containers, networks and images it creates; removes them all on exit.

    Cleanup runs on normal exit, on exceptions, on Ctrl-C, SIGTERM and SIGHUP (handlers installed while the session
    is open, in the main thread only, then restored; SIGINT's too: a background job of a non-interactive shell, a CI
    job, inherits it ignored, and Ctrl-C would leave a whole stack running). Names are ``rs-<session id>-<name>``.

    Args:
        image: host image for :meth:`boot`.
        keep: leave everything in place for debugging (or set ``RESILIENT_STACK_KEEP_HOSTS=1``); what is
            kept is named on stderr (stdout may carry a report).
    """

    def __init__(self, *, image: str = podman.DEFAULT_IMAGE, keep: bool | None = None) -> None:
        self.id = secrets.token_hex(3)
        self.image = image
        self.keep = keep if keep is not None else podman.keeping()
        self.hosts: list[podman.Host] = []
        self.networks: list[podman.Network] = []
        self.images: list[str] = []  # images built for this session (e.g. the example application's), by tag
        self._old_handlers: dict[int, Any] = {}
        self._closed = False
        self.interrupted: int | None = None  # the signal received while open, if any

    def name(self, short: str) -> str:
        """The full name of this session's ``short`` container/network."""
        return podman.unique_name(short, suffix=self.id)

    def create_network(
        self, short: str = "net", *, subnet: str | None = None, internal: bool = False
    ) -> podman.Network:
        # Recorded before `podman network create` runs: a Ctrl-C while it runs (the client killed, the network
        # perhaps made) still removes it.
        placeholder = podman.Network(name=self.name(short), subnet=subnet, gateway=None)
        self.networks.append(placeholder)
        net = podman.create_network(placeholder.name, subnet=subnet, internal=internal)
        self.networks[self.networks.index(placeholder)] = net
        return net

    def own_image(self, tag: str) -> str:
        """Record an image the caller is about to build for this session (before the build: a Ctrl-C during it
        still removes it); removed with the containers."""
        if tag not in self.images:
            self.images.append(tag)
        return tag

    def boot(self, short: str, user_data: str, **kwargs: Any) -> podman.Host:
        """:func:`resilient_stack.testing.podman.boot` a container named ``rs-<id>-<short>`` (host name ``short`` unless given)."""
        kwargs.setdefault("image", self.image)
        kwargs.setdefault("hostname", short)
        name = self.name(short)
        # Record before starting so that a failure half-way is still cleaned up.
        placeholder = podman.Host(
            name=name, hostname=kwargs["hostname"], seed_dir=Path("/nonexistent"), _owns_seed=False
        )
        self.hosts.append(placeholder)
        host = podman.boot(name, user_data, **kwargs)
        self.hosts[self.hosts.index(placeholder)] = host
        return host

    def close(self) -> None:
        """Remove every container, seed directory and network of this session (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.keep:
            print(
                f"[podman] keeping {[h.name for h in self.hosts]} {[n.name for n in self.networks]}"
                + (f" {self.images}" if self.images else ""),
                file=sys.stderr,
                flush=True,
            )
            return
        if self.hosts:
            podman.remove(*(h.name for h in self.hosts))
            for h in self.hosts:
                if h._owns_seed:
                    shutil.rmtree(h.seed_dir, ignore_errors=True)
        for net in self.networks:
            podman.remove_network(net.name)
        if self.images:
            podman._run(["rmi", "-f", *self.images], check=False, timeout=120)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted = signum  # kept: Python drops an exception raised while a finalizer (__del__) runs
        self._raise(signum)

    @staticmethod
    def _raise(signum: int) -> NoReturn:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise _Terminated(128 + signum)

    def check(self) -> None:
        """Raise now if a signal came while the session was open (its exception may have been lost: a signal
        handled while a finalizer runs raises there, and Python only prints that exception): long drills call it
        between their steps."""
        if self.interrupted is not None:
            self._raise(self.interrupted)

    def __enter__(self) -> "Session":
        podman._OPEN.append(self)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                try:
                    self._old_handlers[sig] = signal.signal(sig, self._on_signal)
                except (ValueError, OSError):  # pragma: no cover - unusual embedding
                    pass
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            # Cleanup must not be interrupted by a second signal.
            blocked = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
            old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
            try:
                self.close()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        finally:
            for sig, handler in self._old_handlers.items():
                signal.signal(sig, handler)
            self._old_handlers.clear()
            if self in podman._OPEN:
                podman._OPEN.remove(self)
        if exc[0] is None and self.interrupted is not None:
            self._raise(self.interrupted)  # a signal whose exception was lost: the caller still ends interrupted
