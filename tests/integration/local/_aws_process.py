"""An embedded AWS with a Mirror in its own process, for the kill -9 test.

Usage: python _aws_process.py DATA_DIR READY_FILE
Writes the endpoint to READY_FILE once serving, then serves until killed.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from batchgate_tools.local.moto_server import EmbeddedAws
from batchgate_tools.local.persistence import Mirror


def main() -> None:
    data_dir, ready_file = Path(sys.argv[1]), Path(sys.argv[2])
    aws = EmbeddedAws(port=0, middleware=Mirror(data_dir), execute_state_machines=False)
    aws.start()
    tmp = ready_file.with_suffix(".tmp")
    tmp.write_text(aws.endpoint)
    tmp.replace(ready_file)
    threading.Event().wait()


if __name__ == "__main__":
    main()
