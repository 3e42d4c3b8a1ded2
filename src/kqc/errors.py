"""One error family. Each error carries the exit code the CLI returns and a
message that is one sentence naming the next step."""

from __future__ import annotations


class KqcError(Exception):
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(KqcError):
    """Bad arguments or configuration: exit 2."""

    exit_code = 2
