"""``python -m app.auth``: see ``app.auth.cli``."""

import sys

from app.auth.cli import main

sys.exit(main())
