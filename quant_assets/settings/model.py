"""The building blocks of the typed settings model: ``Var`` (one environment variable, its
default, parser and description) and ``Group`` (one area's variables, a pydantic-settings
model whose only source is the environment, read through each field's ``Var``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from quant_assets.settings.parsers import check

T = TypeVar("T")


@dataclass(frozen=True)
class Var:
    """One environment variable: its name, its default as text (parsed like a set value; None:
    unset leaves the field None; a function: computed when read), the parser that checks it,
    what a good value looks like (``expect``), what it does (``what``, the docs' column) and the
    default as the docs show it where that is not the text itself (``shown``)."""

    name: str
    default: str | Callable[[], str] | None
    parse: Callable[[str], Any] = str
    expect: str = "a value"
    what: str = ""
    shown: str | None = None

    def raw(self) -> str | None:
        raw = os.environ.get(self.name, "").strip()
        if raw:
            return raw
        return self.default() if callable(self.default) else self.default

    def read(self) -> Any:
        """The parsed value, None when unset without a default; a bad value is one ``SettingsError`` line."""
        raw = self.raw()
        return None if raw is None else check(self.name, raw, self.parse, self.expect)

    def refine(self, parse: Callable[[str], T], raw: str | None = None) -> T:
        """The value (or ``raw``) through a stricter parser that only a domain above the settings
        knows (the exchanges ccxt has, the horizons, the bar grid), with this variable's one line."""
        return check(self.name, self.raw() if raw is None else raw, parse, self.expect)

    def default_text(self) -> str:
        if self.shown is not None:
            return self.shown
        if self.default is None or callable(self.default):
            return "unset"
        return f"`{self.default}`"


class _Environment(PydanticBaseSettingsSource):
    """The only source of a group: each field's ``Var`` read from the environment."""

    def get_field_value(self, field, field_name):  # not used: __call__ reads every field at once
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values = {}
        for field, var in self.settings_cls.variables().items():
            value = var.read()
            if value is not None:
                values[field] = value
        return values


class Group(BaseSettings):
    """One area's variables. A group is read, and each of its values checked, the first time
    the area is used (``current().sources``), so a bad value stops what needs it, and only that."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)
    title: ClassVar[str] = ""
    # Variables of the area read by their own module, listed here for the docs' table: secrets
    # (Dagster EnvVars of a resource, never values in the model) and families a module checks itself.
    elsewhere: ClassVar[tuple[Var, ...]] = ()

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        return (init_settings, _Environment(settings_cls))

    @classmethod
    def variables(cls) -> dict[str, Var]:
        """field -> its ``Var``."""
        return {name: next(m for m in f.metadata if isinstance(m, Var)) for name, f in cls.model_fields.items()}


def _var(name: str, default, parse=str, expect: str = "a value", *, what: str, shown: str | None = None) -> Var:
    return Var(name, default, parse, expect, what, shown)
