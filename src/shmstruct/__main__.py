"""``python -m shmstruct``: see :mod:`shmstruct._cli`."""

from ._cli import main

raise SystemExit(main())
