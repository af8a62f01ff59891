"""``python -m kero_core``: the ``kero`` command."""

from kero_core.cli import main

main()
