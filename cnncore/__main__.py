"""``python -m cnncore ...``: see cnncore/cli.py."""

import sys

from cnncore.cli import main

sys.exit(main())
