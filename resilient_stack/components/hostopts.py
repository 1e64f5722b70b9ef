"""The options every instance of the stack gets: a host is replaced on purpose, never by a routine change.

A host's user data and image are its boot configuration. OpenStack cannot change either on a running instance:
a change replaces the instance, and Pulumi replaces every affected instance at once, in every site. So the
instances ignore changes to them (:data:`BOOT_INPUTS`): a routine ``pulumi up`` never replaces a host, and what
changes routinely reaches the running hosts through their metadata (:mod:`resilient_stack.hosts.runtime`).

Replacing a host is an explicit act, one site at a time: ``pulumi up --replace URN``. The engine creates the
replacement from the program's CURRENT inputs (the ignored ones included: a renamed image is taken, measured by
``tests/integration/engine/test_routine_changes.py``). A database host is also **protected** (``protect``): any
preview that would replace or delete it -- a change of an input that forces a new instance (its availability zone,
its server group), an upgrade that would, even ``--replace`` -- fails, naming the host, until the operator lifts the
protection of that one host (``pulumi state unprotect URN``). So no ``pulumi up`` replaces database hosts the
operator did not name, let alone those of several sites at once.

Each host's public port (and a database host's data volume) can be bound to one instance at a time: a
replacement deletes the old instance before it creates the new one (``delete_before_replace``).
"""

from __future__ import annotations

import operator
from typing import Any, Mapping, Sequence

import pulumi

from resilient_stack.hosts import runtime

__all__ = ["BOOT_INPUTS", "host_options", "metadata", "label_tags"]

BOOT_INPUTS = ("imageName", "userData")


def host_options(
    opts: pulumi.ResourceOptions, *, depends_on: Sequence[pulumi.Resource] = (), protect: bool = False
) -> pulumi.ResourceOptions:
    """``opts`` + delete before replace, and ignore changes of the boot configuration; ``protect``: a database
    host (replaced only once the operator unprotects it)."""
    return pulumi.ResourceOptions.merge(
        opts,
        pulumi.ResourceOptions(
            depends_on=list(depends_on),
            delete_before_replace=True,
            ignore_changes=list(BOOT_INPUTS),
            protect=True if protect else None,
        ),
    )


def metadata(
    labels: Mapping[str, str],
    doc: pulumi.Output[dict[str, Any]],
    widest: Mapping[str, Any],
) -> dict[str, pulumi.Input[str]]:
    """An instance's metadata: its labels (known at preview, so the rules and the policy pack see them) and its
    runtime configuration ``doc`` in items whose keys are known too: as many as ``widest`` (the same document with
    every address not known yet at its greatest length) needs; the ones ``doc`` does not fill are empty."""
    slots = len(runtime.encode(widest))
    items = doc.apply(lambda d: runtime.encode(d, slots=slots))
    return {
        **labels,
        **{
            f"{runtime.PREFIX}{i:02d}": items.apply(operator.itemgetter(f"{runtime.PREFIX}{i:02d}"))
            for i in range(slots)
        },
    }


def label_tags(labels: Mapping[str, str]) -> list[str]:
    """The labels again as the instance's tags (``key=value``; Nova: at most 60 characters, no ``,`` or ``/``).

    The metadata carries the runtime configuration too, unknown at the preview of a new stack (the addresses do
    not exist yet); the bridged provider then hands the policy pack the whole map as unknown. The tags stay known,
    so the pack still sees each instance's role and vote (the rules read tags as well as metadata). A label that
    does not fit a tag (a long exemption reason) is in the metadata only."""
    out = [f"{k}={v}" for k, v in labels.items()]
    return [t for t in out if len(t) <= 60 and "," not in t and "/" not in t]
