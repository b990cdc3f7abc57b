"""Arguments of the objects configs/ builds: the YAML is their one source of values.

`constructor_args` checks a config node against the class it builds when the node is handed over;
`config_args` and `from_config` give Python callers (tests, scripts) the configs' own values, so an object
built in Python equals the one training builds from the same config.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from avatarlab.cli import CONFIG_DIR
from avatarlab.errors import UserInputError

HYDRA_KEYS = frozenset({"_target_", "_recursive_", "_convert_", "_partial_", "_args_"})
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def plain(value: Any) -> Any:
    """OmegaConf containers -> dicts and lists with interpolations resolved (checkpoints load with weights_only)."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return dict(value) if isinstance(value, Mapping) else value


def locate(path: str) -> Any:
    """The object a `_target_` names (a dotted import path)."""
    from hydra.utils import get_object

    return get_object(path)


def constructor_args(
    node: Mapping[str, Any], target: Callable[..., Any], supplied_later: Iterable[str] = (), label: str = ""
) -> dict[str, Any]:
    """The keyword arguments `node` gives `target`, as plain values without Hydra's keys.

    Every parameter of `target` without a Python default must be in the node, except `supplied_later` (those
    the caller passes when it builds the object); a UserInputError names unknown and missing keys, or a
    `_target_` that names another class. `label` names the node in the message (e.g. "model.model")."""
    args = plain(node)
    name = f"{target.__module__}.{target.__qualname__}"
    where = label or name
    if not isinstance(args, dict):
        raise UserInputError(f"{where} must be a mapping of {name}'s arguments, not {type(args).__name__}")
    named = args.get("_target_")
    if named is not None and locate(named) is not target:
        raise UserInputError(f"{where} builds {named}, where {name} is expected", f"set {where}._target_: {name}")
    args = {k: v for k, v in args.items() if k not in HYDRA_KEYS}
    later = set(supplied_later)
    signature = inspect.signature(target)
    params = {n: p for n, p in signature.parameters.items() if p.kind in _NAMED and n not in later}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    unknown = [] if takes_any else sorted(set(args) - set(params))
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in args]
    problems = []
    if unknown:
        problems.append(f"unknown keys {unknown}")
    if missing:
        problems.append(f"missing keys {missing}")
    if problems:
        raise UserInputError(f"{where}: {' and '.join(problems)} for {name}", f"{name} takes {', '.join(params)}")
    return args


def load_config(file: str) -> tuple[DictConfig, str]:
    """configs/<file> placed where a composed config holds it, beside what its interpolations read (paths,
    seed, the default data), without Hydra's global state; returns the root and the file's key in it."""
    path = CONFIG_DIR / file
    node = OmegaConf.load(path)
    group = path.parent.relative_to(CONFIG_DIR).as_posix()
    root = node if group == "." else OmegaConf.load(CONFIG_DIR / "train.yaml")
    choices: dict[str, str] = {}
    for entry in root.pop("defaults", []):
        if isinstance(entry, DictConfig):
            choices.update({str(k): str(v) for k, v in entry.items() if v is not None and " " not in str(k)})
    for name in ("paths", "data"):
        if name in choices and name != group:
            root[name] = OmegaConf.load(CONFIG_DIR / name / f"{choices[name]}.yaml")
    if group == ".":
        return root, ""
    root[group] = node
    return root, group


def _merged(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        nested = isinstance(value, Mapping) and isinstance(out.get(key), dict)
        out[key] = _merged(out[key], value) if nested else value
    return out


def config_node(file: str, key: str = "") -> DictConfig:
    """The node `key` (dotted; "" for the whole file) of configs/<file>, attached to its root."""
    root, prefix = load_config(file)
    path = ".".join(p for p in (prefix, key) if p)
    node = OmegaConf.select(root, path) if path else root
    if not isinstance(node, DictConfig):
        raise KeyError(f"configs/{file} has no node {key!r}")
    return node


def config_args(file: str, key: str = "", /, **overrides: Any) -> dict[str, Any]:
    """The arguments the node `key` of configs/<file> gives its `_target_`: plain values, interpolations
    resolved, `overrides` merged in (a nested dict merges key by key, as a Hydra override would)."""
    values = plain(config_node(file, key))
    return _merged({k: v for k, v in values.items() if k not in HYDRA_KEYS}, overrides)


def config_values(file: str, *keys: str) -> dict[str, Any]:
    """The values of `keys` of configs/<file> (a command's options), plain and resolved, by key; the rest of
    the file (a `???`, an interpolation only Hydra resolves) is left unread."""
    root, prefix = load_config(file)
    missing = object()
    values = {key: OmegaConf.select(root, ".".join(p for p in (prefix, key) if p), default=missing) for key in keys}
    absent = [key for key, value in values.items() if value is missing]
    if absent:
        raise KeyError(f"configs/{file} has no {absent}")
    return {key: plain(value) for key, value in values.items()}


def from_config(file: str, key: str = "", /, *args: Any, **overrides: Any) -> Any:
    """Build the `_target_` of the node `key` of configs/<file> with its values (see config_args); `args` go
    first (those the config leaves to the caller, e.g. AvatarModel's spec and track_frames)."""
    target = locate(str(config_node(file, key)["_target_"]))
    return target(*args, **config_args(file, key, **overrides))
