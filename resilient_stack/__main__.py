import sys

from resilient_stack.cli import main

sys.exit(main())
