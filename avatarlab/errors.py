"""User-facing errors: what is wrong, and how to fix it."""

from __future__ import annotations

import sys
from typing import NoReturn


class UserInputError(Exception):
    """Bad input from the user: carries the problem and the fix, shown without a traceback."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem if not fix else f"{problem}\n  fix: {fix}")
        self.problem = problem
        self.fix = fix


EXIT_USER_ERROR = 2


def exit_with(error: UserInputError) -> NoReturn:
    """Print a user error to stderr and exit non-zero (used by every command line)."""
    print(f"error: {error.problem}", file=sys.stderr)
    if error.fix:
        print(f"  fix: {error.fix}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)
