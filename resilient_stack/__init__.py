"""resilient_stack: web stacks that survive the loss of a building, a site or a provider.

Layers, each importing only those below it (the import contract in ``pyproject.toml`` checks it)::

    cli          the resilient-stack command line
    drills       the live fire drill (podman sites, fire, measure)
    testing      the Pulumi mock runner and the podman host harness
    components   the Pulumi components and program
    audit|hosts  auditor inputs and reports | host payloads (cloud-init)
    core         catalog, placement, rules, security checks, paper drill (pure: no Pulumi)
    io           bounded, safe reading of files, pipes, JSON streams and YAML
"""

__version__ = "0.1.0"
