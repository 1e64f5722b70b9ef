# resilient-stack-app, continued (resilient_stack.hosts.app renders web/release.py, then this file, as one
# script): the operator's commands and the entry point.


# --------------------------------------------------------------------------------------------------
# The operator's commands
# --------------------------------------------------------------------------------------------------


def need():
    desired = Desired.load()
    if desired is None:
        sys.exit("resilient-stack-app: this host runs no application (no web.app in the stack)")
    conn = desired.connect()
    ensure_schema(conn)
    return desired, conn


def status(as_json):
    desired, conn = need()
    rows = releases(conn, 20)
    hosts = query(conn, f"SELECT name, placement, seen_at, release_id FROM {SCHEMA}.hosts ORDER BY placement, name")
    per = query(conn, f"SELECT release_id, host, placement, state, started_at, switched_at, error "
                      f"FROM {SCHEMA}.host_releases WHERE release_id = ANY(%s) ORDER BY release_id DESC, switched_at",
                ([r["id"] for r in rows],))
    out = {"stack_spec": desired.key, "releases": [], "hosts": [
        {"host": h[0], "placement": h[1], "seen_at": h[2].isoformat(), "release": h[3],
         "alive": (now() - h[2]).total_seconds() < ALIVE_S} for h in hosts]}
    for r in rows:
        out["releases"].append({
            "id": r["id"], "kind": r["kind"], "image": r["spec"]["image"], "state": r["state"], "error": r["error"],
            "created_at": r["created_at"].isoformat(), "created_by": r["created_by"], "rollback_of": r["rollback_of"],
            "migrated_at": r["migrated_at"] and r["migrated_at"].isoformat(), "migrated_by": r["migrated_by"],
            "finished_at": r["finished_at"] and r["finished_at"].isoformat(), "placements": r["placements"],
            "hosts": [{"host": p[1], "placement": p[2], "state": p[3], "started_at": p[4].isoformat(),
                       "switched_at": p[5] and p[5].isoformat(), "error": p[6]} for p in per if p[0] == r["id"]]})
    if as_json:
        print(json.dumps(out, indent=1))
        return
    for r in out["releases"]:
        what = f" (rollback of {r['rollback_of']})" if r["rollback_of"] else ""
        print(f"release {r['id']} {r['kind']}{what}: {r['image']} -- {r['state']}"
              f"{': ' + r['error'] if r['error'] else ''}")
        print(f"  created {r['created_at']} by {r['created_by']}; order {' > '.join(r['placements'])}"
              + (f"; migrated {r['migrated_at']} on {r['migrated_by']}" if r["migrated_at"] else ""))
        for h in r["hosts"]:
            print(f"  {h['host']} ({h['placement']}): {h['state']}"
                  f"{' at ' + h['switched_at'] if h['switched_at'] else ''}{': ' + h['error'] if h['error'] else ''}")
    for h in out["hosts"]:
        print(f"host {h['host']} ({h['placement']}): release {h['release']}, "
              f"{'alive' if h['alive'] else 'silent since ' + h['seen_at']}")


def rollback(to):
    desired, conn = need()
    rows = releases(conn, 200)
    if not rows:
        sys.exit("resilient-stack-app: no release yet")
    if to is not None:
        source = next((r for r in rows if r["id"] == to), None)
        if source is None:
            sys.exit(f"resilient-stack-app: no release {to}")
    else:
        current_key = rows[0]["key"] if rows[0]["state"] != "failed" else None
        source = next((r for r in rows[1:] if r["state"] == "done" and r["key"] != current_key), None)
        if source is None:
            sys.exit("resilient-stack-app: no earlier release that every host took")
    rid = insert_again(conn, desired, source, "rollback", rollback_of=source["id"])
    print(f"release {rid}: rollback to release {source['id']} ({source['spec']['image']}); it stands until the "
          f"stack's web.app changes (set it back to that image to match)")


def retry():
    desired, conn = need()
    rows = releases(conn, 1)
    if rows and rows[0]["key"] == desired.key and rows[0]["state"] != "failed":
        sys.exit("resilient-stack-app: the stack's spec is the current release already")
    rid = insert_again(conn, desired, {"key": desired.key, "spec": desired.spec}, "deploy")
    print(f"release {rid}: {desired.spec['image']} again")


def current_container():
    current = read_json(CURRENT, {}) or {}
    if not current.get("slot"):
        sys.exit("resilient-stack-app: no application container runs on this host")
    return f"rs-app-{current['slot']}"


def main(argv):
    if os.geteuid() != 0:
        sys.exit("resilient-stack-app: run as root (sudo)")
    cmd, rest = (argv[1], argv[2:]) if len(argv) > 1 else ("status", [])
    if cmd == "agent":
        os.makedirs(STATE_DIR, mode=0o700, exist_ok=True)
        return agent()
    if cmd == "status":
        return status("--json" in rest)
    if cmd == "rollback":
        to = int(rest[rest.index("--to") + 1]) if "--to" in rest else None
        return rollback(to)
    if cmd == "retry":
        return retry()
    if cmd == "logs":
        os.execvp("journalctl", ["journalctl", "--no-pager", "-o", "short-iso", "SYSLOG_IDENTIFIER=rs-app", *rest])
    if cmd == "exec" and rest:
        tty = ["-it"] if sys.stdin.isatty() else ["-i"]
        os.execvp("podman", ["podman", "exec", *tty, current_container(), *rest])
    sys.exit(__doc__.split("\n\n")[1])


if __name__ == "__main__":
    main(sys.argv)
