"""The options every instance of the stack gets: a host is replaced on purpose, never by a routine change.

A host's user data and image are its boot configuration. OpenStack cannot change either on a running instance:
a change replaces the instance, and Pulumi replaces every affected instance at once, in every site. So the
instances ignore changes to them (:data:`BOOT_INPUTS`): a routine ``pulumi up`` never replaces a host, and what
changes routinely reaches the running hosts through their metadata (:mod:`resilient_stack.hosts.runtime`).

Replacing a host is an explicit act, one site at a time: ``pulumi up --replace URN``. The engine creates the
replacement from the program's CURRENT inputs (the ignored ones included: a renamed image is taken, measured by
``tests/integration/engine/test_routine_changes.py``).

Each host's public port (and a database host's data volume) can be bound to one instance at a time: a
replacement deletes the old instance before it creates the new one (``delete_before_replace``).
"""

from __future__ import annotations

from typing import Sequence

import pulumi

__all__ = ["BOOT_INPUTS", "host_options"]

BOOT_INPUTS = ("imageName", "userData")


def host_options(opts: pulumi.ResourceOptions, *, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
    """``opts`` + delete before replace, and ignore changes of the boot configuration."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
        depends_on=list(depends_on), delete_before_replace=True, ignore_changes=list(BOOT_INPUTS),
    ))
