"""``python -m paynet_core.cli``: the same as the ``paynet-ops`` console script."""

from . import main

main()
