"""Environ: returns the environment it runs in, as a hostile function would read it."""

import os


def handler(event, context):
    return dict(os.environ)
