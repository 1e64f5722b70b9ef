"""`resilient-stack` command line: audit, drill, catalog, firedrill, inventory; status, release and app (over SSH).

Exit codes: 0 no mandatory violation; 1 mandatory violation(s); 2 unusable input (one line on
stderr naming the file and the problem).
firedrill (live, podman): 0 every burned site kept the service up and the data safe, the cluster healed and
the site rejoined, as the paper drill predicted; 1 service or data lost, a cluster that did not heal, or the
measurement contradicts the prediction (the sbg2021 replay exits 1); 2 unusable input or a drill that could
not be carried out (one line).
release, app exec: the remote command's exit code; app logs: 0, or 1 when a host did not answer; 2 unusable input,
or no web host reachable (one line).
status: 0 nothing to act on; 1 something to act on (each finding names its action); 2 unusable input.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Sequence

from resilient_stack import __version__
from resilient_stack.audit.baseline import FAIL_ON, exit_code, read_baseline, with_baseline
from resilient_stack.audit.formats import AUDIT_FORMATS, DRILL_FORMATS, render_audit, render_drill
from resilient_stack.audit.inputs import load_input, read_stack_config
from resilient_stack.audit.provenance import provenance, report_time
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.estate import Settings, audit
from resilient_stack.core.rules import (
    PROFILES,
    RULE_BY_ID,
    RULE_DESCRIPTIONS,
    RULE_IDS,
    RuleConfig,
    default_level,
)
from resilient_stack.core.scope import scope
from resilient_stack.core.survival import DRILL_LEVELS, DrillReport, drill
from resilient_stack.drills.report import FORMATS as FIREDRILL_FORMATS
from resilient_stack.hosts.remote import DEFAULT_SSH
from resilient_stack.io.errors import InputError, ResilientStackError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="design YAML, `pulumi stack export` JSON or `pulumi preview --json` output; - reads stdin. "
        "Several: one verdict each, the worst exit code overall",
    )
    p.add_argument(
        "--catalog",
        action="append",
        default=[],
        metavar="FILE",
        help="extra catalog YAML (extends/overrides the built-in one); repeatable",
    )
    p.add_argument("--config", metavar="FILE", help="organisation policy config (profile, thresholds, levels)")
    p.add_argument(
        "--stack-config",
        metavar="FILE",
        help="Pulumi.<stack>.yaml: settings of the default openstack provider for preview JSON",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="resilient-stack",
        description="Check that no role of a stack sits in one building, one site or one provider.",
    )
    parser.add_argument("--version", action="version", version=f"resilient-stack {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("audit", help="check placements against the rules")
    _common(a)
    a.add_argument("--format", choices=AUDIT_FORMATS, default="text")
    a.add_argument("--profile", choices=PROFILES, help="default (single-provider advisory) or strict (all mandatory)")
    a.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE instead of stdout")
    a.add_argument(
        "--baseline",
        metavar="FILE",
        help="an earlier report (--format json or sarif): its findings are marked known and never fail; "
        "only new ones do",
    )
    a.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="mandatory",
        help="exit 1 on a mandatory finding (default), on any finding (advisory), or never (report only); "
        "unusable input is exit 2 whatever this says",
    )

    d = sub.add_parser("drill", help="what survives the loss of each building/site/region/provider")
    _common(d)
    d.add_argument("--level", choices=DRILL_LEVELS, default="site")
    d.add_argument("--format", choices=DRILL_FORMATS, default="text")
    d.add_argument("--output", "-o", metavar="FILE")

    f = sub.add_parser(
        "firedrill",
        help="live drill: boot the stack as shipped in podman, burn a site, measure "
        "what the stack does by itself (RTO/RPO, failover, return)",
    )
    f.add_argument(
        "stack", help="stack name (./stacks/Pulumi.<stack>.yaml in the current directory) or a Pulumi.<stack>.yaml file"
    )
    where = f.add_mutually_exclusive_group()
    where.add_argument(
        "--site",
        metavar="NAME",
        help="site to burn: site id or name, or a placement name (default: the primary's site)",
    )
    where.add_argument(
        "--all-sites",
        action="store_true",
        help="burn each site in turn on one boot (each comes back and rejoins before the next)",
    )
    where.add_argument(
        "--restore",
        action="store_true",
        help="burn every site holding a database member, rebuild the stack from its backups with the "
        "restore path of docs/operations.md (database.bootstrapFrom: backup), measure RTO and RPO",
    )
    f.add_argument(
        "--fault",
        default="fire",
        metavar="FAULT[,FAULT...]",
        help="fire (default): every host of the site killed at once; pause: the primary's database host "
        "frozen (a hung hypervisor), then thawed; partition: the site cut off the internet, then "
        "plugged back; both with a fence probe: never two members accepting writes. Several, "
        "comma-separated: one scenario each, in order, on one boot (each on the primary's site of "
        "that moment; with --all-sites, the first on every site in turn, then the others)",
    )
    f.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="the scenarios N times on the same boot (by default each burns the site of the primary of "
        "that moment: `--repeat 10` is the soak of make soak)",
    )
    f.add_argument("--format", choices=FIREDRILL_FORMATS, default="text")
    f.add_argument("--output", "-o", metavar="FILE")
    f.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")

    inv = sub.add_parser("inventory", help="testinfra targets per role from `pulumi stack output --json`")
    inv.add_argument("path", help="file with `pulumi stack output --json`, or - for stdin")
    inv.add_argument("--user", default="debian", help="SSH user on the hosts (default: debian)")
    inv.add_argument("--format", choices=("text", "json", "shell"), default="text")

    st = sub.add_parser("status", help="the whole stack as it is now, read from its hosts over SSH")
    _remote(st)
    st.add_argument("--format", choices=("text", "json"), default="text")
    st.add_argument(
        "--backup-hours",
        type=float,
        default=48.0,
        metavar="H",
        help="the newest backup may be this old (default 48: the default schedule's daily differential, with a "
        "margin; with another backups.schedule, its longest gap and a margin)",
    )
    _release_parser(sub)
    _app_parser(sub)

    e = sub.add_parser("explain", help="what a rule checks: its levels, its description, its documentation")
    e.add_argument("rule", help=f"a rule id ({', '.join(RULE_IDS[:3])}, ...)")
    e.add_argument("--format", choices=("text", "json"), default="text")

    c = sub.add_parser("catalog", help="list known providers, regions, sites and buildings")
    c.add_argument("--catalog", action="append", default=[], metavar="FILE")
    c.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def _remote(p: argparse.ArgumentParser) -> None:
    """The options of the commands run over SSH on the stack's web hosts."""
    p.add_argument("stack", help="the Pulumi stack's name")
    p.add_argument(
        "--outputs",
        metavar="FILE",
        help="the JSON of `pulumi stack output --json` (- reads stdin); default: asked from pulumi",
    )
    p.add_argument("--cwd", metavar="DIR", help="the Pulumi project's directory for pulumi (default: the current one)")
    p.add_argument("--user", default="debian", help="SSH user on the hosts (default: debian)")
    p.add_argument(
        "--ssh",
        default=DEFAULT_SSH,
        metavar="COMMAND",
        help=f"the ssh command, split as a shell would (default: {DEFAULT_SSH}); e.g. add -i KEY or -J HOST",
    )


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of lines, got {text!r}")
    return int(text)


def _release_parser(sub) -> None:
    r = sub.add_parser("release", help="the application's releases (the release log, from any web host)")
    actions = r.add_subparsers(dest="action", required=True)
    s = actions.add_parser("status", help="the releases, newest first, and what each web host did with them")
    _remote(s)
    s.add_argument("--json", action="store_true", help="the release log as JSON")
    b = actions.add_parser(
        "rollback",
        help="release the previous release every host took (or --to ID) again; it "
        "stands until the stack's web.app changes",
    )
    _remote(b)
    b.add_argument("--to", type=int, metavar="ID", help="the release to go back to (see release status)")
    t = actions.add_parser("retry", help="release the stack's web.app again after a failed release")
    _remote(t)


def _app_parser(sub) -> None:
    a = sub.add_parser("app", help="the application on the web hosts: its logs, a command in its container")
    actions = a.add_subparsers(dest="action", required=True)
    lg = actions.add_parser("logs", help="the application's output of every web host (or --host), line by line")
    _remote(lg)
    lg.add_argument("--host", metavar="HOST", help="an address, or a placement's name (every host of it)")
    lg.add_argument(
        "--since",
        metavar="WHEN",
        help="journalctl's --since: '1h ago', today, '2026-05-01 10:00' (a leading -: --since=-1h)",
    )
    lg.add_argument("--lines", "-n", type=_count, metavar="N", help="the last N lines of each host")
    lg.add_argument("--follow", "-f", action="store_true", help="go on printing new lines (Ctrl-C stops)")
    ex = actions.add_parser("exec", help="run a command in one host's application container: -- COMMAND...")
    _remote(ex)
    ex.add_argument("--host", required=True, metavar="HOST", help="an address, or a placement's name (its first host)")
    ex.add_argument("remote", nargs="+", metavar="COMMAND", help="after --: the command and its arguments")


def _emit(text: str, output: str | None) -> None:
    if output:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise InputError(output, f"cannot write report: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _settings(args):
    """(rule config, catalog, stack config) shared by every path. pydantic is imported only with a --config file."""
    if args.config:
        from resilient_stack.core.policy import build_catalog, load_policy_config

        config = load_policy_config(args.config)
        rule_config = config.rule_config(getattr(args, "profile", None))
        catalog = build_catalog(config, args.catalog)
    else:
        profile = getattr(args, "profile", None)
        rule_config = RuleConfig(profile=profile) if profile else RuleConfig()
        catalog = load_catalog(args.catalog)
    stack_config = read_stack_config(args.stack_config) if args.stack_config else None
    return rule_config, catalog, stack_config


def _source(path: str) -> str:
    return "<stdin>" if path == "-" else path


def _read(path: str, catalog, stack_config, security: bool = False):
    loaded = load_input(path, catalog, stack_config, security=security)
    why = loaded.nothing_to_prove()
    if why:
        raise InputError(_source(path), why)  # never a PASS over nothing (exit 2, as drill)
    return loaded


def _each(args, judge) -> tuple[list, int]:
    """``judge(path)`` for every path: (the results, the worst exit code). An unusable input is one line on
    stderr (exit 2) and the others are still judged."""
    if args.paths.count("-") > 1:
        raise InputError("<stdin>", "standard input (-) can be read once only")
    out, worst = [], 0
    for path in args.paths:
        try:
            result, code = judge(path)
        except InputError as exc:
            print(f"resilient-stack: error: {exc}", file=sys.stderr)
            worst = 2
            continue
        out.append((result, _source(path)))
        worst = max(worst, code)
    return out, worst


def cmd_audit(args) -> int:
    rule_config, catalog, stack_config = _settings(args)
    when = report_time()
    known = read_baseline(args.baseline) if args.baseline else None

    def judge(path: str):
        # the security defaults are checked as the resources stream by; core.estate.audit judges the whole
        loaded = _read(path, catalog, stack_config, security=True)
        report = dataclasses.replace(
            audit(loaded.estate, Settings(rule_config, catalog)),
            provenance=provenance(loaded.sha256, when, args.baseline),
            lines=loaded.lines,
        )
        if known is not None:
            report = with_baseline(report, known)
        return report, exit_code(report, args.fail_on)

    reports, worst = _each(args, judge)
    if reports:
        _emit(render_audit(args.format, reports), args.output)
    return worst


def cmd_drill(args) -> int:
    rule_config, catalog, stack_config = _settings(args)
    when = report_time()

    def judge(path: str):
        loaded = _read(path, catalog, stack_config)
        scenarios = drill(loaded.placements, args.level, rule_config.quorum_roles)
        if not scenarios:
            raise InputError(_source(path), "no placed replica to drill: every placement is unknown")
        report = DrillReport(
            scenarios, scope(loaded.placements, catalog, loaded.coverage), provenance(loaded.sha256, when)
        )
        # 1 when any loss at this level leaves the service down (a quorum role without its majority included)
        # or the data lost: the drill is a check, not a report that always passes
        return report, (0 if report.verdict == "pass" else 1)

    results, worst = _each(args, judge)
    if results:
        _emit(render_drill(args.format, results, args.level), args.output)
    return worst


def cmd_explain(args) -> int:
    """The registry's entry of one rule: levels, description, where the judgement calls are written."""
    rule = args.rule.strip().lower()
    if rule not in RULE_IDS:
        import difflib

        close = difflib.get_close_matches(rule, RULE_IDS, n=2, cutoff=0.6)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise InputError(args.rule, f"no such rule{hint}; the rules: {', '.join(RULE_IDS)}")
    from resilient_stack.audit.formats.common import help_uri

    meta = RULE_BY_ID[rule]
    entry = {
        "rule": rule,
        "title": meta.title,
        "default": default_level(rule),
        "strict": default_level(rule, "strict"),
        "severity": meta.severity,
        "family": meta.family,
        "description": RULE_DESCRIPTIONS[rule],
        "fix": meta.fix,
        "help": help_uri(rule),
        "docs": f"docs/rules.md#{rule}",
    }
    if args.format == "json":
        sys.stdout.write(json.dumps(entry, indent=2) + "\n")
    else:
        sys.stdout.write(
            f"{rule}: {meta.title}\n  level: {entry['default']} (profile default), {entry['strict']} "
            f"(profile strict); severity {meta.severity}\n"
            f"  {entry['description']}\n  fix: {meta.fix}\n  what fires it and the judgement calls: "
            f"{entry['docs']} ({entry['help']})\n"
        )
    return 0


def cmd_firedrill(args) -> int:
    from resilient_stack.drills.plan import DrillError
    from resilient_stack.drills.report import RENDERERS
    from resilient_stack.drills.run import run
    from resilient_stack.testing import podman

    def progress(line: str) -> None:
        if not args.quiet:
            print(f"firedrill: {line}", file=sys.stderr, flush=True)

    try:
        report = run(
            args.stack,
            site=args.site,
            all_sites=args.all_sites,
            restore=args.restore,
            fault=args.fault,
            repeat=args.repeat,
            progress=progress,
        )
    except (DrillError, podman.PodmanError) as exc:
        if os.environ.get("RESILIENT_STACK_DEBUG"):
            raise
        raise InputError(
            args.stack, f"the drill could not be carried out: {exc.one_line()} (RESILIENT_STACK_DEBUG=1 for details)"
        ) from None
    _emit(RENDERERS[args.format](report), args.output)
    return report.exit_code


def cmd_inventory(args) -> int:
    from resilient_stack.hosts.inventory import inventory, render
    from resilient_stack.io.readfile import decode_text, read_bytes
    from resilient_stack.io.safeyaml import load_json_text

    source = "<stdin>" if args.path == "-" else args.path
    outputs = load_json_text(decode_text(read_bytes(args.path, source), source), source)
    _emit(render(inventory(outputs, source), args.format, args.user), None)
    return 0


def _session(args):
    from resilient_stack.ops.app import open_session

    return open_session(args.stack, args.outputs, args.cwd, args.user, args.ssh)


def cmd_status(args) -> int:
    from resilient_stack.ops.health import Limits
    from resilient_stack.ops.status import render, status

    st = status(args.stack, args.outputs, args.cwd, args.user, args.ssh, Limits(backup_hours=args.backup_hours))
    _emit(render(st, args.format), None)
    return st.exit_code


def cmd_release(args) -> int:
    from resilient_stack.ops.app import release

    return release(_session(args), args.action, as_json=getattr(args, "json", False), to=getattr(args, "to", None))


def cmd_app(args) -> int:
    from resilient_stack.ops.app import exec_command, logs

    if args.action == "exec":
        return exec_command(_session(args), args.host, args.remote)
    return logs(_session(args), args.host, since=args.since, lines=args.lines, follow=args.follow)


def cmd_catalog(args) -> int:
    from resilient_stack.core.catalog import load_catalog

    cat = load_catalog(args.catalog)
    regions = sorted(cat.regions(), key=lambda r: (r.provider, r.site.name, r.name))
    if args.format == "json":
        doc = [
            {
                "provider": r.provider,
                "region": r.name,
                "site": r.site.name,
                "site_id": r.site.id,
                "physical_site": r.site.physical_name,
                "physical_site_id": r.site.physical_id,
                "city": r.site.city,
                "buildings": list(r.buildings),
                "building_known": bool(r.building or r.availability_zones),
                "confidence": r.confidence,
                "site_confidence": r.site.confidence,
                "sources": [cat.sources.get(s, s) for s in r.sources],
                "notes": r.notes,
            }
            for r in regions
        ]
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console(width=160, color_system=None, highlight=False)
    t = Table(title="resilient-stack failure-domain catalog")
    for col in ("provider", "region", "site", "building(s)", "confidence", "sources"):
        t.add_column(col, overflow="fold")
    for r in regions:
        if r.availability_zones:
            b = ", ".join(r.availability_zones)
        elif r.multi_az:
            b = "multi-AZ, AZ names unknown"
        else:
            b = r.building or f"{r.name} (building not published)"
        site = f"{r.site.name} [{r.site.confidence}]"
        if r.site.physical_id != r.site.id:
            site += f"; physical site {r.site.physical_name}"
        t.add_row(*(escape(c) for c in (r.provider, r.name, site, b, r.confidence, ", ".join(r.sources))))
    con.print(t)
    used = sorted({s for r in regions for s in r.sources} | {s for m in cat.metros.values() for s in m["sources"]})
    con.print("Sources:", markup=False)
    for key in used:
        con.print(f"  {key}: {cat.sources.get(key, '(no description in the catalog)')}", markup=False)
    if cat.metros:
        con.print("Physical sites shared by several providers (metros):", markup=False)
        for m in cat.metros.values():
            con.print(
                f"  {m['id']}: {m['name']} [{m['confidence']}] ({', '.join(m['sources'])}) {m.get('notes') or ''}",
                markup=False,
            )
    return 0


def _named(args) -> str:
    """What an internal error names when the command has no input paths: its file, or its stack."""
    return getattr(args, "path", None) or getattr(args, "stack", None) or ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = {
        "audit": cmd_audit,
        "drill": cmd_drill,
        "catalog": cmd_catalog,
        "inventory": cmd_inventory,
        "firedrill": cmd_firedrill,
        "explain": cmd_explain,
        "status": cmd_status,
        "release": cmd_release,
        "app": cmd_app,
    }[args.command]
    try:
        return handler(args)
    except InputError as exc:  # names its file
        print(f"resilient-stack: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ResilientStackError as exc:  # the project's other errors: one line, its exit code
        if os.environ.get("RESILIENT_STACK_DEBUG"):
            raise
        print(
            f"resilient-stack: error: {' '.join(getattr(args, 'paths', None) or [_named(args)])}: {exc.one_line()}",
            file=sys.stderr,
        )
        return exc.exit_code
    except KeyboardInterrupt:
        print("resilient-stack: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - never a traceback for the user
        if os.environ.get("RESILIENT_STACK_DEBUG"):
            raise
        print(
            f"resilient-stack: error: {' '.join(getattr(args, 'paths', None) or [_named(args)])}: "
            f"internal error {type(exc).__name__}: {exc} "
            "(set RESILIENT_STACK_DEBUG=1 for a traceback, and please report it)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
