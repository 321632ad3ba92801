"""``python -m asyncrl``: the ``asyncrl`` command (how ``tune`` and ``sweep`` start their trial runs)."""

import sys

from asyncrl.cli import main

sys.exit(main())
