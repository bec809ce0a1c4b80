"""Entry point: `python3 -m harness.report ...` from the repository root, or
`python3 harness/report ...` from anywhere."""

import os
import sys

if not __package__:
    # Run as a directory: make the repository root importable.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from harness.report.cli import main
else:
    from .cli import main

sys.exit(main())
