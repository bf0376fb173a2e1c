import sys

from batchgate.cli import main

sys.exit(main())
