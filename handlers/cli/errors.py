"""What the CLI reports in one line on stderr, and the exit status each kind of failure gives."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_SERVER = 3
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit status:\n\n"
    f"{EXIT_OK}: success.\n\n"
    f"{EXIT_FAILED}: the invoked function failed (success: false), or a batch had failures.\n\n"
    f"{EXIT_USAGE}: usage error: bad options, invalid JSON, an unreadable file, an empty batch, "
    "a bad setting; nothing was sent.\n\n"
    f"{EXIT_SERVER}: fnproxy could not be reached, did not answer within --timeout, or refused "
    "(any HTTP error answer).\n\n"
    f"{EXIT_INTERRUPTED}: interrupted (Ctrl-C)."
)
"""The `--help` epilog (Typer's rich help prints each paragraph as a line)."""


class CliError(Exception):
    """A failure to report as `fnproxy: <message>`, ending the command with `status`."""

    status = EXIT_FAILED


class UsageError(CliError):
    """A mistake in the command line or its input: nothing was sent."""

    status = EXIT_USAGE


class ServerError(CliError):
    """fnproxy (or the store) could not be reached, timed out, or answered with an error."""

    status = EXIT_SERVER
