"""``python -m fcnlib.exercises``: ``--list``, ``generate [NN ...]`` and ``solutions [NN ...]``."""

import sys

from ._tools import main

sys.exit(main())
