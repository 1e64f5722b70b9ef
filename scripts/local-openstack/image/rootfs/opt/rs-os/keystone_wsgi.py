"""Keystone's public WSGI application, served under backend.json's keystone.path (e.g. /identity, as
Infomaniak serves it): uwsgi's --mount finds no application in /usr/bin/keystone-wsgi-public (no .py name)."""

import json

from keystone.server.wsgi import initialize_public_application

PREFIX = (json.load(open("/etc/rs-os/backend.json"))["keystone"] or {}).get("path") or ""
_keystone = initialize_public_application()


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if PREFIX:
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [f"keystone is served under {PREFIX}\n".encode()]
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PREFIX
        environ["PATH_INFO"] = path[len(PREFIX) :] or "/"
    return _keystone(environ, start_response)
