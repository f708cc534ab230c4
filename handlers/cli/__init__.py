"""The `fnproxy` command line (Typer + Rich): `serve` runs fnproxy locally, `clients bootstrap`
writes the first client into a store, and every other command drives a running fnproxy through
its public HTTP API. Only the CLI imports this package: the AWS and GCP handlers never do."""

from handlers.cli.app import main

__all__ = ["main"]
