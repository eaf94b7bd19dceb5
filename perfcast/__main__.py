from perfcast.cli import main

raise SystemExit(main())
