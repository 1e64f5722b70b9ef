"""The operator's commands on a deployed stack, over SSH from its outputs: ``resilient-stack release ...`` and
``resilient-stack app ...`` (see ``docs/operations.md``).

- :mod:`~resilient_stack.ops.outputs`: the stack's outputs, from a file, stdin or ``pulumi stack output --json``.
- :mod:`~resilient_stack.ops.app`: the release log's commands on the first web host that answers, the application's
  logs of several hosts at once, a command in one host's application container.

What to run where is decided by the pure :mod:`resilient_stack.hosts.remote`; this layer only starts the processes.
"""
