#!/usr/bin/env python3
"""Benchmark: audit, drill and the policy pack on synthetic stack exports, against json.load.

    python -m bench.run [--sizes 1000,10000,100000] [--repeat 3] [--json OUT] [--check]

For each size it writes a realistic `pulumi stack export` (bench/synth.py) and measures, in ONE
run and interleaved, the CPU time, wall time and peak RSS of separate processes doing:
  (a) json.load of the file - the floor;
  (b) resilient-stack audit FILE --format json;
  (c) resilient-stack drill FILE --format json;
  (d) the policy pack's stack validation (every placement policy) on the same resources, and of
      that, the seconds of the rules themselves (the rest is the policy SDK preparing resources);
then (a) and (b) on the worst case, an export where every resource is an instance to place, on the
per-resource worst case, every resource a SMALL instance (~570 bytes: reading is cheap, the auditor's work per
resource dominates), and on an OpenTofu plan and state of as many resources (the real fixtures' sites repeated,
bench/synth.py `write_opentofu`), and
(e) the construction of the production stack under Pulumi mocks (resources per second).
Each figure is the best of --repeat runs, in CPU seconds (user + system of the child: these machines are
shared and noisy, and wall time measures the neighbours too; wall-time ratios are printed beside, and the
load average at the start and the end). --check exits 1 when a target is missed:
  audit(100k) <= 1.2x json.load; the worst case, the small instances and the OpenTofu plan and state <= 1.5x;
  10x resources -> at most 11x time;
  peak memory < 3x the file's size (at the largest size).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.synth import write_export

ROOT = Path(__file__).resolve().parent.parent

PY = sys.executable


def measure(cmd: list[str]) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS bytes, stdout) of one child process (exit 0 or 1, else the bench
    stops). CPU = user + system time of the child: what the tool costs, whatever else the machine runs."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)  # the children print a line at most: the pipes cannot fill
    wall = time.perf_counter() - t0
    cpu = usage.ru_utime + usage.ru_stime
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"bench: {' '.join(cmd)} failed ({proc.returncode}): {err.strip()}")
    return wall, cpu, usage.ru_maxrss * 1024, out


def commands(path: Path) -> dict[str, list[str]]:
    return {
        "json.load": [PY, "-c", "import json,sys; json.load(open(sys.argv[1], 'rb'))", str(path)],
        "audit": [PY, "-m", "resilient_stack", "audit", str(path), "--format", "json", "-o", os.devnull],
        "drill": [PY, "-m", "resilient_stack", "drill", str(path), "--format", "json", "-o", os.devnull],
        "pack": [PY, "-m", "bench.pack_validate", str(path)],
    }


def run(sizes: list[int], repeat: int, workdir: Path) -> dict:
    results: dict = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "date": date.today().isoformat(),
        "load": [os.getloadavg()[0]],
        "sizes": {},
        "worst": {},
        "small": {},
        "opentofu-plan": {},
        "opentofu-state": {},
    }
    for n in sizes:
        for kind, into, tools in (
            ("estate", "sizes", None),
            ("instances", "worst", ("json.load", "audit")),
            ("small", "small", ("json.load", "audit")),
            ("plan", "opentofu-plan", ("json.load", "audit")),
            ("state", "opentofu-state", ("json.load", "audit")),
        ):
            if kind in ("plan", "state"):
                # made in a process of its own: it holds the whole document, and a child forked from a big bench
                # process would count the parent's pages in its own peak memory
                path = workdir / f"tofu-{kind}-{n}.json"
                code = f"from pathlib import Path; from bench.synth import write_opentofu; write_opentofu(Path({str(path)!r}), {n}, kind={kind!r})"
                subprocess.run([PY, "-c", code], cwd=ROOT, check=True)
            else:
                path = write_export(workdir / f"{kind}-{n}.json", n, kind=kind)
            size = path.stat().st_size
            best: dict[str, dict] = {}
            for _ in range(repeat):
                for name, cmd in commands(path).items():  # interleaved: noise hits every tool alike
                    if tools and name not in tools:
                        continue
                    wall, cpu, rss, out = measure(cmd)
                    timings = {name: (wall, cpu)}
                    if name == "pack":  # the pack's own share: the rules, after the SDK prepared the resources
                        secs = json.loads(out.strip().splitlines()[-1])["validate_seconds"]
                        timings["pack rules"] = (secs, secs)
                    for key, (w, c) in timings.items():
                        old = best.get(key)
                        best[key] = {
                            "seconds": min(w, old["seconds"]) if old else w,
                            "cpu": min(c, old["cpu"]) if old else c,
                            "peak_rss": max(rss, old["peak_rss"]) if old else rss,
                        }
            results[into][n] = {"file_bytes": size, **best}
            path.unlink()
    results["load"].append(os.getloadavg()[0])
    return results


def construction(repeat: int) -> dict:
    """Resources registered per second while building the production stack under mocks."""
    code = (
        "import time\n"
        "from resilient_stack.testing.mockrun import run_program\n"
        "t=time.perf_counter(); rs=run_program(%r); dt=time.perf_counter()-t\n"
        "print(len(rs), dt)\n"
    ) % (str(ROOT / "stacks" / "Pulumi.production.yaml"),)
    best = None
    for _ in range(repeat):
        out = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
        n, dt = int(out[0]), float(out[1])
        best = (n, dt) if best is None or dt < best[1] else best
    return {"resources": best[0], "seconds": best[1], "per_second": best[0] / best[1]}


AUDIT_TARGET = 1.2  # audit / json.load at 100k resources (CPU seconds), the realistic estate
WORST_TARGET = 1.5  # the same, an export where every resource is an instance to place


def report(res: dict) -> tuple[str, list[str]]:
    load = res.get("load", [])
    lines = [
        f"machine: {res['machine']}; date: {res['date']}; load average (1 min) "
        + " -> ".join(f"{x:.1f}" for x in load)
        + " (start -> end)",
        "",
    ]
    head = (
        "| resources | file MB | json.load s | audit s | audit/json.load (CPU) | (wall) | drill s | pack s "
        "| of which rules s | audit peak MB | peak/file |"
    )
    lines += [head, "|---:" * (head.count("|") - 1) + "|"]
    misses: list[str] = []
    sizes = sorted(res["sizes"], key=int)
    for n in sizes:
        r = res["sizes"][n]
        mb = r["file_bytes"] / 1e6
        cpu = r["audit"]["cpu"] / r["json.load"]["cpu"]
        wall = r["audit"]["seconds"] / r["json.load"]["seconds"]
        peak = r["audit"]["peak_rss"] / r["file_bytes"]
        lines.append(
            f"| {int(n):,} | {mb:.1f} | {r['json.load']['cpu']:.3f} | {r['audit']['cpu']:.3f} | {cpu:.2f}x | {wall:.2f}x | "
            f"{r['drill']['cpu']:.3f} | {r['pack']['cpu']:.3f} | {r['pack rules']['seconds']:.3f} | "
            f"{r['audit']['peak_rss'] / 1e6:.0f} | {peak:.2f}x |"
        )
    worst = res.get("worst") or {}
    smalls = res.get("small") or {}
    for table, title in (
        (worst, "Worst case: every resource an instance to place (`bench/synth.py` `instances`)"),
        (
            smalls,
            "Per-resource worst case: every resource a SMALL instance to place, ~570 bytes (`bench/synth.py` `small`)",
        ),
        (res.get("opentofu-plan") or {}, "OpenTofu: `tofu show -json` of a plan (`bench/synth.py` `write_opentofu`)"),
        (res.get("opentofu-state") or {}, "OpenTofu: `tofu show -json` of a state (`bench/synth.py` `write_opentofu`)"),
    ):
        if not table:
            continue
        lines += [
            "",
            title,
            "",
            "| resources | file MB | json.load s | audit s | audit/json.load (CPU) | (wall) | audit peak MB | peak/file |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n in sorted(table, key=int):
            r = table[n]
            lines.append(
                f"| {int(n):,} | {r['file_bytes'] / 1e6:.1f} | {r['json.load']['cpu']:.3f} | "
                f"{r['audit']['cpu']:.3f} | {r['audit']['cpu'] / r['json.load']['cpu']:.2f}x | "
                f"{r['audit']['seconds'] / r['json.load']['seconds']:.2f}x | {r['audit']['peak_rss'] / 1e6:.0f} | "
                f"{r['audit']['peak_rss'] / r['file_bytes']:.2f}x |"
            )
    lines.append("\n(seconds are CPU seconds, user + system, best of the runs; wall-time ratios in brackets)")
    big_n = sizes[-1]
    big = res["sizes"][big_n]
    if int(big_n) >= 100_000:
        ratio = big["audit"]["cpu"] / big["json.load"]["cpu"]
        if ratio > AUDIT_TARGET:
            misses.append(f"audit {ratio:.2f}x json.load at {int(big_n):,} resources (target <= {AUDIT_TARGET}x)")
        if big_n in worst:
            w = worst[big_n]["audit"]["cpu"] / worst[big_n]["json.load"]["cpu"]
            if w > WORST_TARGET:
                misses.append(f"audit of the worst case {w:.2f}x json.load (target <= {WORST_TARGET}x)")
        if big_n in smalls:
            w = smalls[big_n]["audit"]["cpu"] / smalls[big_n]["json.load"]["cpu"]
            if w > WORST_TARGET:
                misses.append(f"audit of small instances {w:.2f}x json.load (target <= {WORST_TARGET}x)")
        for kind in ("opentofu-plan", "opentofu-state"):
            tofu = (res.get(kind) or {}).get(big_n)
            if tofu:
                w = tofu["audit"]["cpu"] / tofu["json.load"]["cpu"]
                if w > WORST_TARGET:
                    misses.append(f"audit of an {kind} {w:.2f}x json.load (target <= {WORST_TARGET}x)")
        if big["audit"]["peak_rss"] > 3 * big["file_bytes"]:
            misses.append("audit peak memory above 3x the file size at the largest size")
    for a, b in zip(sizes, sizes[1:]):
        growth = res["sizes"][b]["audit"]["cpu"] / res["sizes"][a]["audit"]["cpu"]
        scale = int(b) / int(a)
        lines.append(f"\naudit time growth {int(a):,} -> {int(b):,} resources ({scale:.0f}x): {growth:.2f}x")
        if scale >= 10 and int(a) >= 10_000 and growth > 1.1 * scale:
            misses.append(f"audit time grew {growth:.1f}x for {scale:.0f}x resources (target <= {1.1 * scale:.0f}x)")
    if "construction" in res:
        c = res["construction"]
        lines.append(
            f"\nproduction stack under mocks: {c['resources']} resources in {c['seconds']:.2f} s "
            f"({c['per_second']:.0f} resources/s)"
        )
    return "\n".join(lines), misses


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="OUT", help="also write the raw figures as JSON")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--no-construction", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="rs-bench-") as tmp:
        res = run(sizes, args.repeat, Path(tmp))
    if not args.no_construction:
        res["construction"] = construction(args.repeat)
    text, misses = report(res)
    print(text)
    for m in misses:
        print(f"TARGET MISSED: {m}")
    if not misses:
        print("\nall targets met" if int(sizes[-1]) >= 100_000 else "\n(targets are checked at 100,000 resources)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 1 if (args.check and misses) else 0


if __name__ == "__main__":
    sys.exit(main())
