from monitor.commands.cli import main

raise SystemExit(main())
