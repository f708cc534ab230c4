"""`python -m handlers.cli`, as the `fnproxy` script."""

import sys

from handlers.cli.app import main

sys.exit(main())
