"""The studio: a Flask gallery over the store, and the walk service's HTTP API (`livegan gallery`)."""
from __future__ import annotations


def create_app(*args, **kwargs):
    from .app import create_app as make

    return make(*args, **kwargs)
