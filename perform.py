#!/usr/bin/env python3
"""livegan: play a StyleGAN network live.  Thin entry point; see `python perform.py --help`."""
import sys

from livegan.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", *sys.argv[1:]]))
