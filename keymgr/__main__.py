"""`python -m keymgr` is the `keymgr` command."""

from keymgr.cli.main import main

raise SystemExit(main())
