#!/usr/bin/env python3
"""livegan: play a StyleGAN network live.  `python perform.py --help` lists the options."""
import sys

from livegan.cli import perform_main

if __name__ == "__main__":
    sys.exit(perform_main(sys.argv[1:]))
