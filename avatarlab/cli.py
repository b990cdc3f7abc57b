"""What every command line shares: where the configs are, and clean exits on bad input."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Callable

from omegaconf.errors import MissingMandatoryValue

from avatarlab.errors import UserInputError, exit_with

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def config_dir() -> str:
    """Absolute path of the repository's configs/ (hydra.main takes it as config_path)."""
    return str(CONFIG_DIR)


def run_cli(action: Callable[[], Any]) -> Any:
    """Run a command's action; bad input exits 2 with the problem and the fix, never a traceback."""
    logging.getLogger().setLevel(logging.INFO)
    try:
        return action()
    except UserInputError as error:
        exit_with(error)
    except MissingMandatoryValue as error:
        exit_with(UserInputError(f"a required argument is missing: {error.full_key}", f"pass {error.full_key}=VALUE on the command line"))
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
