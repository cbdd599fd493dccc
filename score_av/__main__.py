import sys

from score_av.cli import main

sys.exit(main())
