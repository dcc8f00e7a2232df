"""``python -m phymo.app ...`` is the ``phymo`` command (for a Python whose scripts folder is not on PATH)."""

import sys

from phymo.app.commands.cli import main

sys.exit(main())
