"""The options every instance of the stack gets: how a host is (never, or on purpose) replaced.

A host's user data and image are its boot configuration. OpenStack cannot change either on a running instance:
a change replaces the instance, and Pulumi replaces every affected instance at once, in every site. So the
instances ignore changes to them (:data:`BOOT_INPUTS`): a routine ``pulumi up`` never replaces a host, and what
changes routinely reaches the running hosts through their metadata (:mod:`resilient_stack.hosts.runtime`).

Replacing a host is an explicit act, one site at a time: its placement in ``resilient-stack:rebuild`` (only then
does the host take a changed image or user data) and ``pulumi up --replace URN``. Without ``rebuild``, Pulumi
would create the replacement from the image and user data recorded in the state (an ignored input keeps its old
value, even in a replacement): a retired image would make the replacement fail.

Each host's public port (and a database host's data volume) can be bound to one instance at a time: a
replacement deletes the old instance before it creates the new one (``delete_before_replace``).
"""

from __future__ import annotations

from typing import Sequence

import pulumi

__all__ = ["BOOT_INPUTS", "host_options"]

BOOT_INPUTS = ("imageName", "userData")


def host_options(
    opts: pulumi.ResourceOptions, *, rebuild: bool, depends_on: Sequence[pulumi.Resource] = (),
) -> pulumi.ResourceOptions:
    """``opts`` + delete before replace, and (unless ``rebuild``) ignore changes of the boot configuration."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
        depends_on=list(depends_on), delete_before_replace=True,
        ignore_changes=None if rebuild else list(BOOT_INPUTS),
    ))
