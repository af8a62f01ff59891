"""Kero's Flask settings: the ``KERO_*`` keys of ``app.config``, derived from the core's option
table so a new core option becomes a Flask key without touching this module."""

from __future__ import annotations

import difflib
import os
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping, MutableMapping

from kero_core.config import OPTION_NAMES, OPTIONS, KeroConfigError, Option
from kero_core.http import credentials_problem

PREFIX = "KERO_"
ADMIN_USER = "KERO_ADMIN_USER"
ADMIN_PASSWORD = "KERO_ADMIN_PASSWORD"
# Flask configs are plain values (often read from the environment), so the retention is a number
# of days under a key that says so; the core accepts a number of days for it as well.
_RENAMED = {"retention": "KERO_RETENTION_DAYS", "raw_retention": "KERO_RAW_RETENTION_DAYS"}


class KeroConfigWarning(UserWarning):
    """An ``app.config`` key starts with ``KERO_`` but is not one of Kero's (usually a typo)."""


def key_of(option: str) -> str:
    """The ``app.config`` key of a core option: ``pixel_path`` -> ``KERO_PIXEL_PATH``."""
    return _RENAMED.get(option, PREFIX + option.upper())


def _flask_default(option: Option) -> Any:
    if isinstance(option.default, timedelta):
        days = option.default / timedelta(days=1)
        return int(days) if days.is_integer() else days
    return option.default


OPTION_OF_KEY: dict[str, str] = {key_of(o.name): o.name for o in OPTIONS}
KEYS: tuple[str, ...] = (*OPTION_OF_KEY, ADMIN_USER, ADMIN_PASSWORD)


@dataclass(frozen=True)
class Settings:
    """What ``init_app`` needs: the core's options and the dashboard's Basic-auth users."""

    options: dict[str, Any]
    users: dict[str, str]


def read_settings(config: MutableMapping[str, Any], *, warning_stacklevel: int = 2) -> Settings:
    """Fill in every missing ``KERO_*`` key with its default (so ``app.config`` shows the
    settings in force), warn about unknown ``KERO_*`` keys, and check the values."""
    for option in OPTIONS:
        config.setdefault(key_of(option.name), _flask_default(option))
    config.setdefault(ADMIN_USER, os.environ.get(ADMIN_USER))
    config.setdefault(ADMIN_PASSWORD, os.environ.get(ADMIN_PASSWORD))
    for key in unknown_keys(config):
        closest = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.0)[0]
        warnings.warn(f"app.config[{key!r}] is not a Kero setting and is ignored; did you mean {closest!r}?", KeroConfigWarning, stacklevel=warning_stacklevel)
    if not config[key_of("db_path")]:
        raise KeroConfigError(
            f"{key_of('db_path')} is required: set app.config[{key_of('db_path')!r}] to the folder where Kero "
            "keeps its data (e.g. os.path.join(app.instance_path, 'kero')) before Kero(app) or kero.init_app(app)."
        )
    options = {name: config[key] for key, name in OPTION_OF_KEY.items()}
    return Settings(options, _users(config[ADMIN_USER], config[ADMIN_PASSWORD]))


def unknown_keys(config: Mapping[str, Any]) -> list[str]:
    """The ``KERO_*`` keys of ``config`` that Kero does not know, sorted."""
    return sorted(k for k in config if isinstance(k, str) and k.startswith(PREFIX) and k not in KEYS)


def _users(user: Any, password: Any) -> dict[str, str]:
    for key, value in ((ADMIN_USER, user), (ADMIN_PASSWORD, password)):
        if value is not None and not isinstance(value, str):
            raise KeroConfigError(f"{key} must be a string, got {type(value).__name__}.")
    if not user and not password:
        return {}
    if not user or not password:
        given, missing = (ADMIN_USER, ADMIN_PASSWORD) if user else (ADMIN_PASSWORD, ADMIN_USER)
        raise KeroConfigError(
            f"{given} is set but {missing} is not: set both (in app.config or the environment) "
            "to protect the dashboard with HTTP Basic auth, or neither."
        )
    problem = credentials_problem(user, password)
    if problem:
        raise KeroConfigError(f"{ADMIN_USER} and {ADMIN_PASSWORD}: {problem}.")
    return {user: password}


def flask_error(error: KeroConfigError) -> KeroConfigError:
    """The core's error with every option it names spelled as its ``app.config`` key."""
    return KeroConfigError(" ".join(_flask_word(word) for word in str(error).split(" ")))


def _flask_word(word: str) -> str:
    bare = word.rstrip(".,:;")
    return key_of(bare) + word[len(bare):] if bare in OPTION_NAMES else word
