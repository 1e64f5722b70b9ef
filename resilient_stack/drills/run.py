"""``resilient-stack firedrill STACK [--site NAME | --all-sites]``: one boot, one scenario per burned site.

The stack NAME is ``./stacks/Pulumi.NAME.yaml`` in the current directory (or give the file's path); the
host image, its build script and the drill's payloads come from the installed package.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from resilient_stack.drills.faults import FAULTS
from resilient_stack.drills.plan import build_plan, select_sites, stack_file_for
from resilient_stack.drills.report import FiredrillReport
from resilient_stack.drills.restore import RESTORE_SETTING, restore_overrides, run_restore
from resilient_stack.drills.scenario import Options, run_drill
from resilient_stack.drills.topology import moto_site
from resilient_stack.io.errors import InputError
from resilient_stack.testing import podman

__all__ = ["run"]


def run(
    stack: str,
    *,
    site: str | None = None,
    all_sites: bool = False,
    restore: bool = False,
    fault: str = "fire",
    repeat: int = 1,
    options: Options = Options(),
    progress: Callable[[str], None] = lambda _: None,
) -> FiredrillReport:
    """The ``firedrill`` command: the stack booted once, then one scenario per selected site (each burned site
    comes back and rejoins before the next fire); with ``restore``, every site holding a database member burns
    and the stack is rebuilt from its backups (:mod:`resilient_stack.drills.restore`).

    Raises:
        InputError: unusable stack file or --site; podman, the host image or moto missing (one line).
        DrillError / podman.PodmanError: the drill could not be carried out.
    """
    start = time.monotonic()
    path = stack_file_for(stack)
    if not 1 <= repeat <= 100:
        raise InputError(str(path), f"--repeat must be in 1..100, got {repeat}")
    faults = [f.strip() for f in fault.split(",")]
    if not faults or any(f not in FAULTS for f in faults):
        raise InputError(str(path), f"--fault {fault!r}: each must be one of {', '.join(FAULTS)}")
    if restore and (faults != ["fire"] or repeat != 1):
        raise InputError(str(path), "--restore burns every database site once: no --fault, no --repeat")
    if len(faults) > 1 and site:
        raise InputError(str(path), "several faults strike the primary's site of each moment: no --site")
    plan = build_plan(path)
    if plan.rejected:
        progress(
            f"[design] REJECTED by the placement rules ({', '.join(plan.rejected_rules)}): the components "
            "refuse this stack; building it anyway for the drill (enforce_rules=False)"
        )
    # by default the site of the primary of the moment (resolved at each scenario: it moves with each failover)
    # with --all-sites, the first fault on every site in turn, then the others on the primary's site of their moment
    chosen: list[tuple[str | None, str]] = []
    if not restore:
        where: list[str | None] = [*select_sites(plan, site, all_sites)] if (site or all_sites) else [None]
        if all_sites:
            chosen = [(w, faults[0]) for w in where] + [(None, f) for f in faults[1:]]
        else:
            chosen = [(w, f) for f in faults for w in where]
    scenarios = chosen * repeat
    restored = (
        build_plan(
            path, plan.internet, config_overrides=restore_overrides(plan.config), shown_overrides=RESTORE_SETTING
        )
        if restore
        else None
    )
    if not podman.podman_available():
        raise InputError(
            str(path), f"podman is not available (it comes with the host image: sudo bash {podman.BUILD_SCRIPT})"
        )
    try:
        podman.ensure_image(options.image)
        moto_site()
    except podman.PodmanUnavailable as exc:
        raise InputError(str(path), str(exc)) from None
    if restored is not None:
        results = [run_restore(plan, restored, options=options, progress=progress)]
    else:
        results = run_drill(plan, scenarios, options=options, progress=progress)
    try:
        shown = str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        shown = str(path)
    return FiredrillReport(
        stack=plan.stack,
        source=shown,
        scenarios=results,
        rejected_rules=plan.rejected_rules,
        config_overrides=dict((restored or plan).config_overrides),
        runtime_s=time.monotonic() - start,
        boot_s=results[0].boot_s if results else 0.0,
    )
