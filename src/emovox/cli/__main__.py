import sys

from emovox.cli.commands import main

sys.exit(main())
