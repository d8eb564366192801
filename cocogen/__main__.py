import sys

from cocogen.cli import main

sys.exit(main())
