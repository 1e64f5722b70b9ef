"""The resilient-stack Pulumi program: read the stack's ``resilient-stack:*`` config, build the stack.

Everything happens in :func:`resilient_stack.components.stack.program` (also run under mocks by
:func:`resilient_stack.testing.mockrun.run_program`): config validated by :mod:`resilient_stack.components.stack_config`,
design checked by the placement rules, :class:`~resilient_stack.components.stack.ResilientWebStack` built, its
outputs exported. Stacks live in ``stacks/`` (see ``stacks/README.md``).
"""

from resilient_stack.components.stack import program

program()
