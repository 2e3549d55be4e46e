"""``python -m hepmva ...`` is the ``hepmva`` command (see :mod:`hepmva.cli`)."""

import sys

from hepmva.cli import main

sys.exit(main())
