"""``resilient-stack status STACK``: the whole stack as it is now, read from its hosts over ssh.

    resilient-stack status STACK [--outputs FILE] [--format text|json] [--ssh COMMAND] [--user USER]

Every host of the stack's outputs (the web hosts of ``placements.<name>.publicAddresses``, the database hosts of
``databaseAddresses``) gets the status probe (``ops/data/status-probe.py.in``, its paths filled from
:mod:`resilient_stack.hosts.paths`) on the standard input of ``sudo python3 -`` over the operator's own ssh, all at
once; nothing is installed on the hosts, so stacks deployed before this command answer too. What they say is judged
by :func:`resilient_stack.ops.health.judge`. Exit 0: nothing to act on; 1: something to act on (each finding names
its action); 2: unusable input. A host that does not answer is a finding, not an error.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any, Mapping, Sequence

from resilient_stack.core.vocabulary import ALERTMANAGER_PORT, HTTP_PORT, PROMETHEUS_PORT
from resilient_stack.hosts import dns, paths
from resilient_stack.hosts.inventory import inventory, web_placements
from resilient_stack.hosts.remote import SSH_FAILED, parse_ssh
from resilient_stack.io.errors import InputError
from resilient_stack.ops.health import Answer, Limits, Status, Target, judge, render_text
from resilient_stack.ops.outputs import load_outputs

PROBE_TIMEOUT = 90.0  # seconds for one host: ssh, then the probe's own bounded calls


def probe_script(overrides: Mapping[str, str] | None = None) -> str:
    """The probe as the hosts run it: its ``{{NAME}}`` fields filled (``overrides``: other paths, for its tests)."""
    text = resources.files("resilient_stack.ops").joinpath("data/status-probe.py.in").read_text("utf-8")
    fields = {
        "PATRONI_CONF": paths.PATRONI_CONF,
        "ETCDCTL_HELPER": paths.ETCDCTL_HELPER,
        "DATA_MOUNT": paths.DATA_MOUNT,
        "MEMBER_CERT": paths.MEMBER_CERT,
        "CERT_NAME": paths.CERT_NAME,
        "APP_STATE_DIR": paths.APP_STATE_DIR,
        "NGINX_SITE": paths.NGINX_SITE,
        "HTTP_PORT": str(HTTP_PORT),
        "PROMETHEUS_CONF": paths.PROMETHEUS_CONF,
        "PROMETHEUS_SERVICE": paths.PROMETHEUS_SERVICE,
        "ALERTMANAGER_SERVICE": paths.ALERTMANAGER_SERVICE,
        "PROMETHEUS_PORT": str(PROMETHEUS_PORT),
        "ALERTMANAGER_PORT": str(ALERTMANAGER_PORT),
        "DNS_ZONE": dns.ZONE_FILE,
        "DNS_SERVICE": dns.SERVICE,
        **(overrides or {}),
    }
    for name, value in fields.items():
        text = text.replace("{{" + name + "}}", value)
    if "{{" in text:
        raise RuntimeError("status probe: a field is not filled")  # the package is broken, not the input
    return text


def targets(outputs: Any, source: str) -> list[Target]:
    """Every host of the stack's outputs, web hosts first, with its placement and that placement's region."""
    inventory(outputs, source)  # the outputs of a whole resilient-stack stack, or one line saying what is missing
    placements = outputs["placements"]
    region = {n: p.get("region") if isinstance(p.get("region"), str) else None for n, p in placements.items()}
    out = [Target(a, "web", n, region.get(n)) for n, a in web_placements(placements, source)]
    for name, address in sorted(outputs["databaseAddresses"].items()):
        out.append(Target(str(ipaddress.ip_address(address.strip())), "database", name, region.get(name)))
    for name, address in sorted((outputs.get("monitoringAddresses") or {}).items()):  # inventory() checked them
        out.append(Target(str(ipaddress.ip_address(address.strip())), "monitoring", name, region.get(name)))
    return out


def ask(host: Target, ssh: Sequence[str], user: str, script: str, timeout: float = PROBE_TIMEOUT) -> Answer:
    """One host's answer: the probe's JSON, or why there is none."""
    argv = [*ssh, "--", f"{user}@{host.address}", "sudo python3 -"]
    try:
        proc = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Answer(None, f"no answer in {timeout:.0f} s")
    except OSError as exc:
        raise InputError("--ssh", f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    said = (proc.stderr.strip().splitlines() or [""])[-1][:200]
    if proc.returncode == SSH_FAILED:
        return Answer(None, f"ssh failed: {said}" if said else "ssh failed")
    lines = proc.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if proc.returncode != 0 or not isinstance(report, dict):
        return Answer(None, f"the probe failed (exit {proc.returncode}): {said}")
    return Answer(report)


def status(
    stack: str,
    outputs: str | None = None,
    cwd: str | None = None,
    user: str = "debian",
    ssh: str = "ssh",
    limits: Limits = Limits(),
) -> Status:
    """The stack's status (one ssh per host, all at once)."""
    command = parse_ssh(ssh)
    document, source = load_outputs(stack, outputs, cwd)
    hosts = targets(document, source)
    script = probe_script()
    with ThreadPoolExecutor(max_workers=min(16, len(hosts)) or 1) as pool:
        answers = dict(zip((h.address for h in hosts), pool.map(lambda h: ask(h, command, user, script), hosts)))
    return judge(hosts, answers, time.time(), limits)


def render(st: Status, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(st.as_dict(), indent=2) + "\n"
    return render_text(st)
