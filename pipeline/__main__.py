"""`python -m pipeline` is the `newsbeam` command."""

from pipeline.cli import main

raise SystemExit(main())
