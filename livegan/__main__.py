from livegan.cli import main

raise SystemExit(main())
