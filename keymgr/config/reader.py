"""A generic typed reader over parsed YAML whose every error names the file and field.

`Section` is one mapping: typed getters (`string`, `integer`, `seconds`, `choice`,
`address`, ...) that refuse unknown keys (suggesting the close match), wrong types (a
YAML bool is not a number), missing required fields and out-of-range values, each with
one line such as `node.yaml: peers[1].api: expected host:port, got 'x'`. `FieldReader`
carries what every section needs (the file's name and directory). Knows nothing about
which fields a node config has: that is `keymgr.config.loader`.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn, TypeVar, cast

from keymgr.naming import DNS_LABEL

MAX_SECONDS: Final = 3600.0  # no timing knob makes sense beyond an hour


class ConfigError(Exception):
    """A bad config: `str()` is one line, `<source>: [<field>: ]<message>`.

    `source` is the file as the user named it; `field` is a dotted path such as
    `peers[1].api`, or "" when the problem is the file itself.
    """

    def __init__(self, source: str, message: str, *, field: str = "") -> None:
        self.source = source
        self.field = field
        self.message = " ".join(message.split())  # one line, whatever YAML said
        super().__init__(self.source, self.field, self.message)

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.source}: {where}{self.message}"


MISSING: Final = object()  # "key absent", as distinct from an explicit null
T = TypeVar("T")


def kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_address(text: str, *, allow_port_zero: bool) -> tuple[str, int]:
    """Splits `host:port` (IPv4, [IPv6] or a DNS name); ValueError says what is wrong."""
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError("expected host:port")
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError("expected host:port")
        if ":" in host:
            raise ValueError("expected host:port (write IPv6 addresses as [addr]:port)")
        if re.fullmatch(r"[0-9.]+", host):
            try:
                host = str(ipaddress.IPv4Address(host))
            except ValueError:
                raise ValueError(f"{host!r} is not an IPv4 address") from None
        elif len(host) > 253 or not all(
            DNS_LABEL.fullmatch(label) for label in host.rstrip(".").split(".")
        ):
            raise ValueError(f"{host!r} is not a valid host name")
        host = host.lower()
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or int(port_text) > 65535:
        raise ValueError(f"port must be 0..65535, got {port_text!r}")
    port = int(port_text)
    if port == 0 and not allow_port_zero:
        raise ValueError("port must not be 0 (other members must be able to reach it)")
    return host, port


class Section:
    """One YAML mapping being read: typed getters that name the field on any error."""

    def __init__(
        self, reader: FieldReader, path: str, value: object, known: tuple[str, ...]
    ) -> None:
        self._reader = reader
        self.path = path
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            reader.fail(path, f"expected a mapping, got {kind_of(value)}")
        for key in value:
            if not isinstance(key, str) or key not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
                reader.fail(self.field(str(key)), f"unknown field{suffix}")
        self._data: Mapping[str, object] = value

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, message: str) -> NoReturn:
        self._reader.fail(self.field(key), message)

    def raw(self, key: str, *, required: bool) -> object:
        value = self._data.get(key, MISSING)
        if value is MISSING and required:
            self.fail(key, "required field missing")
        return value

    def _typed(
        self, key: str, default: object, check: Callable[[object], bool], what: str
    ) -> object:
        value = self.raw(key, required=default is MISSING)
        if value is MISSING:
            return default
        if not check(value):
            self.fail(key, f"expected {what}, got {kind_of(value)}")
        return value

    def string(self, key: str, *, default: str | object = MISSING, empty_ok: bool = False) -> str:
        value = cast(str, self._typed(key, default, lambda v: isinstance(v, str), "a string"))
        if not value and not empty_ok:
            self.fail(key, "must not be empty")
        return value

    def integer(
        self, key: str, *, default: int | object = MISSING, minimum: int, maximum: int | None = None
    ) -> int:
        value = cast(
            int,
            self._typed(
                key,
                default,
                lambda v: isinstance(v, int) and not isinstance(v, bool),
                "an integer",
            ),
        )
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
            self.fail(key, f"must be {bound}, got {value}")
        return value

    def boolean(self, key: str, *, default: bool | object = MISSING) -> bool:
        return cast(bool, self._typed(key, default, lambda v: isinstance(v, bool), "true or false"))

    def seconds(self, key: str, *, default: float | object = MISSING) -> float:
        value = self._typed(
            key,
            default,
            lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "a number of seconds",
        )
        number = float(cast(float, value))
        if not math.isfinite(number) or number <= 0 or number > MAX_SECONDS:
            self.fail(key, f"must be > 0 and <= {MAX_SECONDS:g}, got {show(value)}")
        return number

    def choice(self, key: str, options: tuple[T, ...], *, default: T | object = MISSING) -> T:
        value = self._typed(key, default, lambda v: isinstance(v, str), "a string")
        if value not in options:
            listed = ", ".join(str(o) for o in options)
            self.fail(key, f"expected one of {listed}, got {show(value)}")
        return next(option for option in options if option == value)

    def path_(self, key: str) -> Path:
        return self._reader.resolve(self.string(key))

    def optional_path(self, key: str) -> Path | None:
        if self._data.get(key) is None:
            return None
        return self.path_(key)

    def address(self, key: str, *, allow_port_zero: bool = False) -> str:
        text = self.string(key)
        try:
            parse_address(text, allow_port_zero=allow_port_zero)
        except ValueError as exc:
            reason = str(exc)
            if reason.startswith("expected host:port"):
                self.fail(key, f"{reason}, got {show(text)}")
            self.fail(key, f"{reason} in {show(text)}")
        return text

    def has(self, key: str) -> bool:
        return key in self._data


@dataclass(frozen=True, kw_only=True, slots=True)
class FieldReader:
    """Reads one config file's fields: names the file in every error, resolves relative
    paths against the file's directory, and (with `check_files`) opens the files it names."""

    source: str
    base_dir: Path
    check_files: bool = True

    def fail(self, field_path: str, message: str) -> NoReturn:
        raise ConfigError(self.source, message, field=field_path)

    def resolve(self, text: str) -> Path:
        path = Path(text)
        return path if path.is_absolute() else self.base_dir / path

    def section(
        self, data: Section, key: str, known: tuple[str, ...], *, required: bool = True
    ) -> Section:
        value = data.raw(key, required=False)
        if value is MISSING:
            if required:
                self.fail(key, "required section missing")
            value = None
        return Section(self, key, value, known)

    def existing_file(self, s: Section, key: str) -> Path:
        path = s.path_(key)
        if not path.exists():
            s.fail(key, f"file not found: {path}")
        if not path.is_file():
            s.fail(key, f"not a regular file: {path}")
        if not os.access(path, os.R_OK):
            s.fail(key, f"not readable: {path}")
        return path
