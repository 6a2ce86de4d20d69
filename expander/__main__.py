"""`python -m expander ...` is the `expander` command."""

import sys

from expander.cli import main

sys.exit(main())
