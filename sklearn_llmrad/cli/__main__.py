"""``python -m sklearn_llmrad.cli``: the ``llmrad`` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
