"""Entry point of ``python -m testlogs`` (see :mod:`testlogs.cli`)."""

import sys

from testlogs.cli import main

sys.exit(main())
