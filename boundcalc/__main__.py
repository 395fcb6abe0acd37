import sys

from boundcalc.cli.main import main

sys.exit(main())
