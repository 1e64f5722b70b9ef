"""Host checks (pytest-testinfra): what a healthy web, db-primary and db-replica host looks like.

Run them with ``python -m resilient_stack.hosts.checks --hosts=... --role ROLE`` (see :mod:`.plugin`).
"""
