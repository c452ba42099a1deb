"""The `gradkit` command: one module per command group, each registering its commands on the one
`app` (app.py, with the error guard). Importing them here, in this order, sets the order of
`gradkit --help`. Commands call the Python API (gradkit.api) and the capabilities, importing
them inside their bodies so that `--help` needs no torch."""
from gradkit.cli import (train, federated, generate, rl, search, explain, runs,  # noqa: F401  (in this order)
                         doctor, deploy)
from gradkit.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
