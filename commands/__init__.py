"""The headless commands' parts (cli.py is the entry point): `--set` overrides and the progress display."""

from __future__ import annotations


class CliError(Exception):
    """A refusal before anything runs (bad file, bad --set, invalid workflow); exit code 2."""
