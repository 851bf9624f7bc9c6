"""`python -m ops ...` is the same as `alimt-collector ...`."""

from ops.cli import main

raise SystemExit(main())
