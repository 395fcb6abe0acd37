import sys

from boundcalc.cli.entry import run

sys.exit(run())
