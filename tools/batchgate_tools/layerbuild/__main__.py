"""``python -m batchgate_tools.layerbuild``: see ``batchgate_tools.layerbuild.cli``."""

import sys

from batchgate_tools.layerbuild.cli import main

sys.exit(main())
