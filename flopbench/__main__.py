from flopbench.cli import main

raise SystemExit(main())
