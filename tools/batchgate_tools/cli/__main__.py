import sys

from batchgate_tools.cli import main

sys.exit(main())
