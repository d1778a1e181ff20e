"""The script `spark-submit` runs: `calcinosis screen --engine spark` with the given arguments.

    spark-submit --master URL .../calcinosis/cli/spark_entry.py EXPORT_DIR [screen options]

The master and resources come from spark-submit; everything else is `calcinosis screen`'s.
"""

from __future__ import annotations

import sys

from calcinosis.cli.main import main


def run() -> int:
    return main(["screen", "--engine", "spark", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(run())
