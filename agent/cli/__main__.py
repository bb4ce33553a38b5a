"""`python -m agent.cli`: the `tessera` command."""

from agent.cli import main

raise SystemExit(main())
