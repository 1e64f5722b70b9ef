"""Releases of the user's application on the production stack AS SHIPPED, live in podman (issue 27).

The stack file is stacks/Pulumi.production.yaml as it is; the hosts boot from the exact user data the components
render (under Pulumi mocks, as the fire drill does: resilient_stack.drills), the example application's image
(examples/app, built here from its Containerfile) is served by a real registry (Debian's docker-registry) on the
test's internet under the name the stack gives it, and a metadata service stands in for the cloud's. A release is
what `pulumi up` does to a running stack when `web.app.image` changes: every instance's metadata changes in place
(here: the metadata stand-in serves what the components render for the new tag; no host is replaced).

One boot (about 5 minutes), then in order:
  boot      every web host starts the first release at once; its migration runs exactly once
  v2        a visitor GETs the page on every web host and writes through the stack's name during the release:
            0 failed requests; every host ends on v2, one at a time, the primary's site last; migration once
  v3        a broken image (exits at start): the release stops at its first host, which keeps serving v2, as every
            other host does; the visitor sees no failed request; the release log names the host and why
  rollback  `resilient-stack-app rollback` releases v2 again through the same gates; every host takes it

The figures (release time per host and for the stack, the extra boot time of the application) go to the test's
output and docs/application.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from resilient_stack.core.vocabulary import HOST_WEB
from resilient_stack.drills import topology as topo
from resilient_stack.drills.load import Visits, Writes
from resilient_stack.drills.load import stop as stop_load
from resilient_stack.drills.plan import Plan, build_plan, stack_file_for
from resilient_stack.drills.scenario import release_workdir
from resilient_stack.hosts import app as host_app
from resilient_stack.ops import health, status
from resilient_stack.testing import podman, registry, sessions, standins
from tests.conftest import ROOT, need_tool

pytestmark = pytest.mark.podman

NS = "resilient-stack"
RELEASE_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 420.0


def say(msg: str) -> None:
    print(f"[release] {msg}", file=sys.stderr, flush=True)


class Stack:
    """The booted production stack and what the test needs of it."""

    def __init__(self, session: sessions.Session, plan: Plan, workdir: Path) -> None:
        self.s, self.plan, self.workdir = session, plan, workdir
        self.events: list[str] = []
        t0 = time.monotonic()
        self.top = topo.boot(
            session,
            plan,
            workdir,
            image=session.image,
            timeout=READY_TIMEOUT_S,
            event=lambda phase, msg: say(f"{phase}: {msg}"),
        )
        self.boot_s = self.top.boot_s
        self.webs = [h for h in plan.hosts if h.role == HOST_WEB]
        self.wait_serving(READY_TIMEOUT_S)
        self.app_ready_s = time.monotonic() - t0 - self.boot_s  # after cloud-init: pull, migration, start
        # one name per web host in the visitor's resolver, to visit each of them (the record set's name reaches the
        # first only, as a browser does)
        lines = "".join(f"{h.public_ip} {self.host_name(h.name)}\n" for h in self.webs)
        podman.exec_in(self.top.visitor.name, ["sh", "-c", f"printf '%s' '{lines}' >> /etc/hosts"])

    def host_name(self, host: str) -> str:
        return f"{host}.{self.plan.record_name}"

    def web(self, host: str) -> str:
        return self.top.names[host]

    def agent(self, host: str, *args: str, check: bool = True):
        return podman.exec_in(self.web(host), [host_app.AGENT, *args], check=check, timeout=120)

    def status(self) -> dict:
        return json.loads(self.agent(self.webs[0].name, "status", "--json").stdout)

    def wait_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for h in self.webs:
            while podman.exec_in(
                self.web(h.name),
                ["curl", "-fsS", "-o", "/dev/null", "-m", "3", "http://127.0.0.1/healthz"],
                check=False,
            ).returncode:
                if time.monotonic() > deadline:
                    log = podman.exec_in(
                        self.web(h.name),
                        ["journalctl", "-u", host_app.AGENT_SERVICE, "-n", "30", "--no-pager", "-o", "cat"],
                        check=False,
                    ).stdout
                    pytest.fail(f"{h.name} does not serve the application after {timeout:.0f} s:\n{log}")
                time.sleep(2)

    def release_to(self, image: str) -> None:
        """What `pulumi up` does when web.app.image changes: every instance's metadata, rendered by the components
        for the new image, served in place of the old (same hosts, same keys, same addresses)."""
        raw = _stack_web()
        raw["app"] = {**raw["app"], "image": image}
        plan = build_plan(stack_file_for("production"), self.plan.internet, config_overrides={f"{NS}:web": raw})
        assert [(h.name, h.public_ip) for h in plan.hosts] == [(h.name, h.public_ip) for h in self.plan.hosts]
        # the user data stays as the hosts booted with it (the instances ignore its changes: no host is replaced);
        # the metadata is the new one
        for old, new in zip(self.plan.hosts, plan.hosts):
            standins.metadata_files(
                self.top.metadata_root,
                self.top.metadata_ips[new.name],
                user_data=old.user_data,
                metadata=new.metadata,
                name=new.name,
            )

    def wait_release(self, image: str, states: tuple[str, ...], timeout: float = RELEASE_TIMEOUT_S) -> dict:
        """The newest release of ``image`` once it is in one of ``states``."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.status()
            rel = next((r for r in st["releases"] if r["image"] == image), None)
            if rel is not None and rel["state"] in states:
                return rel
            if time.monotonic() > deadline:
                pytest.fail(f"release of {image} not {states} after {timeout:.0f} s: {json.dumps(st)[-3000:]}")
            time.sleep(3)

    def serving(self) -> dict[str, dict]:
        """What each web host runs (the agent's own record of its slot)."""
        out = {}
        for h in self.webs:
            text = podman.exec_in(self.web(h.name), ["cat", f"{host_app.APP_STATE_DIR}/current.json"]).stdout
            out[h.name] = json.loads(text)
        return out

    def load(self, first: int, seconds: int) -> tuple[list[Visits], Writes]:
        visits = [
            Visits(
                self.top.visitor.name,
                f"https://{self.host_name(h.name)}",
                interval=0.25,
                first=1,
                count=100000,
                seconds=seconds,
            )
            for h in self.webs
        ]
        writes = Writes(
            self.top.visitor.name,
            self.plan.url,
            interval=0.5,
            first=first,
            count=100000,
            seconds=seconds,
            token=self.plan.write_token,
        )
        return visits, writes

    def stop(self, visits: list[Visits], writes: Writes) -> None:
        stop_load(self.top.visitor.name, *visits, writes)

    def psql(self, sql: str) -> str:
        """A query on the application's database, as postgres on the current primary."""
        for p in self.plan.db_placements:
            name = self.top.names[self.plan.db_host(p).name]
            r = podman.exec_in(
                name,
                ["runuser", "-u", "postgres", "--", "psql", "-d", self.plan.config.database.app_database, "-Atc", sql],
                check=False,
                timeout=60,
            )
            if r.returncode == 0 and "read-only" not in r.stderr:
                primary = podman.exec_in(
                    name,
                    ["runuser", "-u", "postgres", "--", "psql", "-Atc", "SELECT NOT pg_is_in_recovery()"],
                    check=False,
                ).stdout.strip()
                if primary == "t":
                    return r.stdout
        pytest.fail(f"no primary answered {sql!r}")


def _stack_web() -> dict:
    from resilient_stack.io.safeyaml import load_yaml_text

    doc = load_yaml_text(stack_file_for("production").read_text(), "production")
    return dict(doc["config"][f"{NS}:web"])


def failed(streams) -> list[str]:
    return [f"{a.detail}" for s in streams for a in s.attempts if not a.ok]


@pytest.fixture(scope="module")
def stack():
    need_tool(podman.podman_available(), f"podman is not available: run `sudo bash {podman.BUILD_SCRIPT}`")
    try:
        image = podman.ensure_image()
        topo.moto_site()
    except podman.PodmanUnavailable as exc:
        need_tool(False, str(exc))
    plan = build_plan(stack_file_for("production"))
    assert plan.config_overrides == {} and plan.app_image == "registry.example.com/shop/web:1.0.0"
    workdir = Path(tempfile.mkdtemp(prefix="rs-release-"))
    try:
        with sessions.Session(image=image) as s:
            yield Stack(s, plan, workdir)
    finally:
        release_workdir(workdir, say)


def image_of(tag: str) -> str:
    return f"registry.example.com/shop/web:{tag}"


def build_push(stack: Stack, tag: str, *, broken: bool = False) -> str:
    local = registry.build_app_image(f"localhost/rs-{stack.s.id}-app:{tag}", session=stack.s, broken=broken)
    registry.push(local, stack.plan.registry_ip, registry.repository_of(image_of(tag)))
    return image_of(tag)


def test_every_web_host_starts_the_first_release_and_its_migration_runs_once(stack):
    st = stack.status()
    (first,) = st["releases"]
    assert first["image"] == image_of("1.0.0") and first["state"] == "done", first
    assert sorted(h["host"] for h in first["hosts"]) == sorted(h.name for h in stack.webs)
    # every host started at once (none served anything): the release phase ran once, on one of them
    migrations = stack.psql("SELECT release, host FROM example_migrations ORDER BY at").split()
    assert migrations == [f"{first['id']}|{first['migrated_by']}"], migrations
    say(
        f"first release on {len(stack.webs)} web hosts {stack.app_ready_s:.0f} s after cloud-init finished "
        f"(boot {stack.boot_s:.0f} s)"
    )


def test_a_release_goes_host_by_host_the_primarys_site_last_with_no_failed_request(stack):
    image = build_push(stack, "2.0.0")
    visits, writes = stack.load(first=1_000_000, seconds=900)
    t0 = time.time()
    stack.release_to(image)
    rel = stack.wait_release(image, ("done", "failed"))
    time.sleep(3)
    stack.stop(visits, writes)
    total_s = time.time() - t0
    assert rel["state"] == "done", rel
    assert failed(visits) == [] and failed([writes]) == [], (failed(visits)[:5], failed([writes])[:5])
    assert sum(len(v.attempts) for v in visits) > 200 and len(writes.acks) > 20
    serving = stack.serving()
    assert {h: c["image"] for h, c in serving.items()} == {h.name: image for h in stack.webs}
    # one host at a time, in the release's order (the primary's placement last), each with its switch time
    hosts = sorted(rel["hosts"], key=lambda h: h["switched_at"])
    assert len(hosts) == len(stack.webs) and all(h["state"] == "done" and h["switched_at"] for h in hosts)
    order = rel["placements"]
    assert [h["placement"] for h in hosts] == sorted((h["placement"] for h in hosts), key=order.index)
    assert order[-1] == stack.plan.primary
    migrations = stack.psql(f"SELECT count(*) FROM example_migrations WHERE release = '{rel['id']}'").strip()  # text
    assert migrations == "1"
    switched = [time.mktime(time.strptime(h["switched_at"][:19], "%Y-%m-%dT%H:%M:%S")) for h in hosts]
    per_host = [b - a for a, b in zip(switched, switched[1:])]
    say(
        f"release v2: {len(hosts)} hosts in {total_s:.0f} s from the metadata change; between two hosts' switches "
        f"{min(per_host):.0f}-{max(per_host):.0f} s; {sum(len(v.attempts) for v in visits)} GETs and "
        f"{len(writes.attempts)} writes, 0 failed"
    )


def test_a_broken_release_stops_at_its_first_host_and_every_host_keeps_serving(stack):
    good = image_of("2.0.0")
    image = build_push(stack, "3.0.0", broken=True)
    visits, writes = stack.load(first=2_000_000, seconds=900)
    t0 = time.time()
    stack.release_to(image)
    rel = stack.wait_release(image, ("failed",))
    time.sleep(20)  # nobody else takes it
    stack.stop(visits, writes)
    assert failed(visits) == [] and failed([writes]) == [], (failed(visits)[:5], failed([writes])[:5])
    (host,) = rel["hosts"]
    first = min(stack.webs, key=lambda h: (rel["placements"].index(h.placement), h.name))
    assert host["host"] == first.name and host["state"] == "failed", rel
    assert "cannot start" in host["error"] and first.name in rel["error"], rel
    assert {h: c["image"] for h, c in stack.serving().items()} == {h.name: good for h in stack.webs}
    say(
        f"broken release v3: failed on {first.name} after {time.time() - t0:.0f} s, "
        f"{sum(len(v.attempts) for v in visits)} GETs, 0 failed"
    )


def test_rollback_releases_the_previous_version_again_through_the_same_gates(stack):
    good = image_of("2.0.0")
    out = stack.agent(stack.webs[-1].name, "rollback").stdout
    assert "rollback to release" in out
    rel = stack.wait_release(good, ("done", "failed"))
    assert rel["kind"] == "rollback" and rel["state"] == "done", rel
    assert sorted(h["host"] for h in rel["hosts"]) == sorted(h.name for h in stack.webs)
    assert {h: c["image"] for h, c in stack.serving().items()} == {h.name: good for h in stack.webs}
    # it stands: the stack's spec (v3) is not registered again while the rollback is the newest release
    time.sleep(15)
    assert stack.status()["releases"][0]["id"] == rel["id"]


# -- resilient-stack status on the same running stack (issue 23, point 1) --------------------------------------


def status_of(stack: Stack, down: set[str] = frozenset()) -> health.Status:
    """`resilient-stack status` as it judges the stack: the shipped probe, run on every host as the command runs it
    over ssh (`sudo python3 -` with the probe on stdin; here `podman exec`, the hosts' only way in); a host in
    ``down`` does not answer."""
    script = status.probe_script()
    targets, answers = [], {}
    for h in stack.plan.hosts:
        role = h.role if h.role in (HOST_WEB, "monitoring") else "database"
        targets.append(health.Target(h.public_ip, role, h.placement))
        if h.name in down:
            answers[h.public_ip] = health.Answer(None, "ssh failed: connection timed out")
            continue
        proc = podman.exec_in(stack.top.names[h.name], ["python3", "-"], input=script, timeout=120)
        answers[h.public_ip] = health.Answer(json.loads(proc.stdout.strip().splitlines()[-1]))
    return health.judge(targets, answers, time.time())


def test_status_of_the_healthy_stack_has_nothing_to_act_on(stack):
    """After the releases: one leader, every replica streaming, etcd whole, a full backup in the repository (the
    first one runs soon after boot), the application healthy on every web host."""
    deadline = time.monotonic() + 300
    st = status_of(stack)
    while st.findings and time.monotonic() < deadline:  # the first full backup may still be running
        if any(f.subject != "backups" for f in st.findings):
            break
        time.sleep(10)
        st = status_of(stack)
    say("status (healthy):\n" + health.render_text(st))
    assert st.findings == [] and st.exit_code == 0, health.render_text(st)
    dbs = [h for h in stack.plan.hosts if h.role.startswith("db-")]
    assert st.cluster["leader"] and len(st.cluster["members"]) == len(dbs)
    assert st.cluster["etcd"]["healthy"] == len(dbs) and st.cluster["backups"]["newest_full_hours"] is not None
    assert all(h["state"] == "up" for h in st.hosts)
    assert {h["healthz"] for h in st.hosts if h["role"] == "web"} == {200}
    # the monitoring hosts: Prometheus and Alertmanager running, clustered, every target up, nothing firing
    mon = [h for h in st.hosts if h["role"] == "monitoring"]
    assert len(mon) == 2 and all(h["firing"] == [] and h["targets_down"] == [] for h in mon), mon


def test_the_monitoring_hosts_pass_their_host_checks(stack):
    """The shipped host checks of the monitoring role (what `resilient-stack inventory --format shell` prints for
    them), on both monitoring hosts of the running stack: services, the rules loaded, every target up, one cluster."""
    mons = [h for h in stack.plan.hosts if h.role == "monitoring"]
    assert len(mons) == 2
    for h in mons:
        cmd = [sys.executable, "-m", "resilient_stack.hosts.checks", f"--hosts=podman://{stack.top.names[h.name]}",
               "--role", "monitoring", "-q", "-rfEs"]  # fmt: skip
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0 and " passed" in proc.stdout and " failed" not in proc.stdout, (
            f"{h.name}:\n{proc.stdout[-4000:]}\n{proc.stderr[-1000:]}"
        )


def test_status_names_a_lost_site_and_what_to_do(stack):
    """A replica's site burned (its containers killed; the stack's last test): that placement answers nothing, etcd
    has lost a member; each is named with its action, and the command exits 1."""
    primary = status_of(stack).cluster["leader"]  # Patroni's member name: the host's name
    assert primary in {h.name for h in stack.plan.hosts if h.role.startswith("db-")}
    lost = next(h.placement for h in stack.plan.hosts if h.role.startswith("db-") and h.name != primary)
    victims = {h.name for h in stack.plan.hosts if h.placement == lost}
    podman.kill(*(stack.top.names[n] for n in victims), signal_name="KILL", timeout=60)
    deadline = time.monotonic() + 120
    st = status_of(stack, down=victims)
    while "etcd" not in {f.subject for f in st.findings} and time.monotonic() < deadline:
        time.sleep(5)  # etcd's members see the loss within their heartbeat timeouts
        st = status_of(stack, down=victims)
    say("status (a site lost):\n" + health.render_text(st))
    subjects = {f.subject: f for f in st.findings}
    assert st.exit_code == 1
    assert (
        subjects[f"placement {lost}"].level == health.CRITICAL
        and "none of its" in subjects[f"placement {lost}"].problem
    )
    assert subjects["etcd"].level == health.WARNING and "one more loss" in subjects["etcd"].action
    assert st.cluster["leader"] == primary
