"""`python -m hypernet_ext ...` (see hypernet_ext.cli)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
