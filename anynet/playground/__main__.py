"""``python -m anynet.playground``: the same as ``anynet playground``."""

import sys

from . import main

sys.exit(main())
