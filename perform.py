#!/usr/bin/env python3
"""livegan: play a StyleGAN network live.  `python perform.py --help` lists the options."""
import sys

from livegan.cli import main

if __name__ == "__main__":
    sys.exit(main(["perform", *sys.argv[1:]]))
