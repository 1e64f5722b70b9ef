"""``python -m resilient_stack.hosts.checks --hosts=... --role ROLE [...]``: run the host checks.

Every argument goes to pytest; the checks' plugin (``--role``, ``--expect-replicas``...) is loaded and the
checks are collected from the installed package, so no checkout is needed.
"""

import sys

import pytest


def main(argv: list[str]) -> int:
    return int(
        pytest.main(
            [
                "-p",
                "resilient_stack.hosts.checks.plugin",
                "-p",
                "no:cacheprovider",
                "--pyargs",
                "resilient_stack.hosts.checks",
                *argv,
            ]
        )
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
