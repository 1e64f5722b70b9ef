"""The live fire drill: boot a whole stack in podman, burn one site, measure what survives.

``resilient-stack firedrill STACK [--site NAME | --all-sites]`` (see ``docs/firedrill.md``), by concern:

- :mod:`~resilient_stack.drills.plan`: the stack (``./stacks/Pulumi.STACK.yaml`` or a path) built under
  Pulumi mocks: hosts, roles, sites, public addresses, exact user data, the paper drill's prediction.
- :mod:`~resilient_stack.drills.topology`: podman networks (one per site, one "internet") and hosts, and the
  drill-only hosts: the HAProxy entry point and the S3 stand-in of the backup store.
- :mod:`~resilient_stack.drills.load`: HTTP GETs to the entry point and numbered, committed writes.
- :mod:`~resilient_stack.drills.scenario`: one scenario: steady state, fire, failover runbook, observation,
  measurement.
- :mod:`~resilient_stack.drills.report`: RTO, RPO, verdicts and the text/JSON/Markdown reports (pure).
- :mod:`~resilient_stack.drills.run`: the command: one scenario per burned site.

Everything podman does goes through the harness :mod:`resilient_stack.testing.podman`; the drill's
payloads (``data/``) and the host image's build script ship with the package, so the drill runs from an
installed ``resilient-stack[drill]``, outside any git checkout. Traffic stays on loopback and the drill's
networks (plus the hosts' own ``apt-get update`` against the machine's Debian mirror).
"""
