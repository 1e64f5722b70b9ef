"""Turn a `resilient-stack audit --config` file into a `--policy-pack-config` file for this pack.

.venv/bin/python policies/make_pack_config.py org.yaml > pack-config.json
pulumi preview --policy-pack policies --policy-pack-config pack-config.json
"""

import sys

from resilient_policies.config import main  # installed with the resilient-stack package

if __name__ == "__main__":
    sys.exit(main())
