"""Render /opt/rs-os/templates/etc/** into /etc from /etc/rs-os/backend.json (what this container is).

The first boot records backend.json in /var/lib/rs-os; a later boot of the same (pre-initialised) image with
another backend.json would serve databases made for another region: refused, one line, exit 1.
"""

import json
import pathlib
import sys

BACKEND = pathlib.Path("/etc/rs-os/backend.json")
RECORDED = pathlib.Path("/var/lib/rs-os/backend.json")
TEMPLATES = pathlib.Path("/opt/rs-os/templates")


def main() -> int:
    backend = json.loads(BACKEND.read_text())
    if RECORDED.exists():
        before = json.loads(RECORDED.read_text())
        if before != backend:
            changed = sorted(k for k in set(before) | set(backend) if before.get(k) != backend.get(k))
            print(
                f"render: this image was initialised as {before.get('name')!r}; backend.json differs in {changed}",
                file=sys.stderr,
            )
            return 1
    else:
        RECORDED.parent.mkdir(parents=True, exist_ok=True)
        RECORDED.write_text(json.dumps(backend, indent=1, sort_keys=True))
    values = {
        "@@ADDRESS@@": backend["address"],
        "@@REGION@@": backend["region"],
        "@@HOST@@": backend["host"],
        "@@AUTH_URL@@": backend["auth_url"],
        "@@AUTH_URI@@": backend["auth_url"].rsplit("/v3", 1)[0],
        "@@METADATA_SECRET@@": backend["metadata"]["proxy_secret"],
        # S3's signing region: the one the region's S3 endpoint gives (signatures carry it); us-east-1 as AWS's
        "@@S3_LOCATION@@": (backend.get("s3") or {}).get("location", "us-east-1"),
    }
    for src in sorted(TEMPLATES.rglob("*")):
        if src.is_dir():
            continue
        text = src.read_text()
        for key, value in values.items():
            text = text.replace(key, value)
        if "@@" in text:
            print(f"render: unknown placeholder left in {src}", file=sys.stderr)
            return 1
        dst = pathlib.Path("/") / src.relative_to(TEMPLATES)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
