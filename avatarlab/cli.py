"""What every command line shares: where the configs are, and clean exits on bad input."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf.errors import MissingMandatoryValue

from avatarlab.errors import UserInputError, exit_with


def _find_configs() -> Path:
    """The installed package avatarlab.configs (the repository's configs/ in an editable install)."""
    try:
        return Path(str(resources.files("avatarlab.configs")))
    except ModuleNotFoundError:
        # An editable install made before configs/ became a package: the checkout still has it.
        checkout = Path(__file__).resolve().parent.parent / "configs"
        if (checkout / "train.yaml").is_file():
            return checkout
        raise ModuleNotFoundError(
            "avatarlab.configs is not installed; reinstall avatarlab (`make setup` or `pip install .`)"
        ) from None


CONFIG_DIR = _find_configs()


def config_dir() -> str:
    """Absolute path of the configs (hydra.main takes it as config_path)."""
    return str(CONFIG_DIR)


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def checked_name(option: str, value: Any) -> str:
    """`value` if it is a plain name (letters, digits, `.`, `_`, `-`; no slashes, no `..`), else a UserInputError.

    Names become folder names under a project folder (datasets/NAME, logs/NAME/...); a path in a name would
    write elsewhere."""
    name = "" if value is None else str(value)
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise UserInputError(
            f"{option}={name!r} is not a plain name",
            f"pass {option}=NAME made of letters, digits, '.', '_' and '-' (no '/', no '..'), e.g. {option}=me_2",
        )
    return name


def run_cli(action: Callable[[], Any]) -> Any:
    """Run a command's action; bad input exits 2 with the problem and the fix, never a traceback."""
    try:
        return action()
    except UserInputError as error:
        exit_with(error)
    except MissingMandatoryValue as error:
        exit_with(
            UserInputError(
                f"a required argument is missing: {error.full_key}", f"pass {error.full_key}=VALUE on the command line"
            )
        )
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        sys.exit(130)


def _kind_name(kind: type) -> str:
    return "an integer" if kind is int else "a number" if kind is float else kind.__name__


def checked(name: str, value: Any, kind: type, minimum: float | None = None, above: float | None = None) -> Any:
    """`value` as `kind` (int, float or str), at least `minimum` / more than `above`; else a
    UserInputError naming the option."""
    if value is None:
        return None
    try:
        converted = kind(value)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
    except (TypeError, ValueError):
        raise UserInputError(
            f"{name}={value!r} is not {_kind_name(kind)}",
            f"pass {name}=VALUE with a valid {kind.__name__}",
        ) from None
    if minimum is not None and converted < minimum:
        raise UserInputError(f"{name}={value} is below {minimum}", f"pass {name}={minimum} or more")
    if above is not None and converted <= above:
        raise UserInputError(f"{name}={value} must be more than {above}", f"pass a larger {name}")
    return converted


def key_value_options(argv: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """Parse `key=value` arguments of a script; keys must be in `defaults`, values take their defaults' types."""
    options = dict(defaults)
    for item in argv:
        key, sep, value = item.partition("=")
        if not sep or key not in defaults:
            raise UserInputError(f"unknown argument {item!r}", f"use key=value with keys {', '.join(defaults)}")
        default = defaults[key]
        options[key] = (
            checked(key, value, type(default))
            if isinstance(default, (int, float)) and not isinstance(default, bool)
            else value
        )
    return options
