"""`python -m bot.cli`: the `bot` command."""

import sys

from . import main

sys.exit(main())
