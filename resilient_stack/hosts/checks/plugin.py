"""The pytest plugin of the host checks: a pytest-testinfra suite describing a HEALTHY host of each role.

The checks ship with the package (``pip install 'resilient-stack[checks]'``), so they run against deployed
hosts from any machine, with no checkout. They take their targets from testinfra's ``--hosts`` option, so
the same files check a podman stand-in and a real deployed instance. Choose what the hosts are meant to be
with ``--role`` (``resilient-stack inventory --format shell`` prints these commands from the stack's outputs):

    # a deployed web host (ssh as the image's default user; sudo is used where root is needed)
    python -m resilient_stack.hosts.checks --hosts=ssh://debian@IP --role web --placement "ovh/GRA/GRA11"

    # a deployed primary that should have 2 streaming replicas, with pgBackRest backups configured
    # (and Patroni's leader, its etcd member healthy with the majority)
    python -m resilient_stack.hosts.checks --hosts=ssh://debian@IP --role db-primary --expect-replicas 2 --expect-backup

    # a replica (several hosts of one role at once: --hosts=ssh://debian@IP1,ssh://debian@IP2)
    python -m resilient_stack.hosts.checks --hosts=ssh://debian@IP --role db-replica

    # a monitoring host: Prometheus, Alertmanager, every target of the stack up, the alert rules loaded
    python -m resilient_stack.hosts.checks --hosts=ssh://debian@IP --role monitoring
    # a local podman container booted by resilient_stack.testing.podman
    python -m resilient_stack.hosts.checks --hosts=podman://rs-1a2b3c-web --role web

Add ``--ssh-config=FILE`` / ``--ssh-identity-file=KEY`` (testinfra options) for jump hosts and keys.
Without ``--role`` every test here is skipped (so a plain ``pytest`` of the whole repository does not
probe the developer's own machine).

Options:
    --role web|db-primary|db-replica|monitoring   what the hosts should be (required to run anything)
    --placement LABEL                  web: the placement label the index page must show
    --app-title TITLE                  web: the title the index page must show
    --expect-replicas N                db-primary: at least N replicas streaming (default 0)
    --expect-backup                    db: pgBackRest + WAL archiving must be configured
    --no-expect-backup                 db: WAL archiving must be off (the default checks nothing)
    --expect-app                       web: the application must run (else: checked when present)

A database member is checked with the role it has NOW (Patroni's: ``resilient-stack-cluster list`` on any member
shows who leads); the stack's outputs name the members' initial roles.
"""

from __future__ import annotations

import time
from typing import Callable

import pytest

from resilient_stack.core.vocabulary import HOST_ROLES

ROLES = HOST_ROLES


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("resilient-stack", "resilient_stack host checks")
    group.addoption("--role", choices=ROLES, default=None, help="role the --hosts should have")
    group.addoption("--placement", default=None, help="web: placement label shown on the index page")
    group.addoption("--app-title", default=None, help="web: application title shown on the index page")
    group.addoption("--expect-replicas", type=int, default=0, help="db-primary: replicas that must stream")
    group.addoption(
        "--expect-backup",
        dest="expect_backup",
        action="store_const",
        const=True,
        default=None,
        help="db: pgBackRest and WAL archiving must be configured",
    )
    group.addoption(
        "--no-expect-backup",
        dest="expect_backup",
        action="store_const",
        const=False,
        help="db: WAL archiving must be off",
    )
    group.addoption(
        "--expect-app",
        action="store_true",
        default=False,
        help="web: the application must run (its agent, its current slot behind nginx)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "role(*names): host roles a host check applies to")


def _opt(config: pytest.Config, name: str, default=None):
    return config.getoption(name, default=default)


@pytest.fixture(autouse=True)
def _select_by_role(request: pytest.FixtureRequest) -> None:
    role = _opt(request.config, "role")
    marker = request.node.get_closest_marker("role")
    if role is None:
        pytest.skip("host checks need --role web|db-primary|db-replica|monitoring (and --hosts=...)")
    if marker is not None and role not in marker.args:
        pytest.skip(f"not a check for role {role}")


@pytest.fixture
def role(request: pytest.FixtureRequest) -> str:
    return _opt(request.config, "role")


@pytest.fixture
def options(request: pytest.FixtureRequest) -> dict:
    c = request.config
    return {
        "placement": _opt(c, "placement"),
        "app_title": _opt(c, "app_title"),
        "expect_replicas": _opt(c, "expect_replicas", 0) or 0,
        "expect_backup": _opt(c, "expect_backup"),
        "expect_app": _opt(c, "expect_app", False),
    }


@pytest.fixture
def root(host):
    """The host, with commands run as root (sudo over ssh; a no-op when already root)."""
    if host.user().name == "root":
        yield host
    else:
        with host.sudo():
            yield host


@pytest.fixture
def psql(host) -> Callable[[str], str]:
    """Run one SQL statement as the postgres superuser on the local cluster; returns trimmed output."""

    def run(sql: str) -> str:
        with host.sudo("postgres"):
            return host.check_output("psql -X -A -t -q -d postgres -c %s", sql).strip()

    return run


def eventually(check: Callable[[], bool], *, timeout: float = 30.0, interval: float = 1.0) -> bool:
    """Poll ``check`` until it is true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
