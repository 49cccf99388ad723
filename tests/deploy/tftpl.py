"""A renderer for the subset of Terraform's template language our templates use.

The templates in deploy/terraform/templates use `${name}` interpolation only (plus the
escapes `$${` and `%%{`), so the tests can render them without Terraform and break one
variable at a time. Anything outside that subset (a function call, an attribute, a
`%{ for }` directive) is refused, so a template cannot drift into syntax this renderer
would silently get wrong; `test_templates.py` also checks it renders exactly what
Terraform's `templatefile` renders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"\$\$\{|%%\{|\$\{([^}]*)\}|%\{")
_NAME = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*")


class TemplateError(ValueError):
    """The template uses syntax outside the subset, or a variable that was not given."""


def names(template: str) -> set[str]:
    """The variables the template interpolates."""
    found: set[str] = set()
    for match in _TOKEN.finditer(template):
        if match.group(0).startswith("${") and match.group(1) is not None:
            name = _NAME.fullmatch(match.group(1))
            if name is None:
                raise TemplateError(f"unsupported expression ${{{match.group(1)}}}")
            found.add(name.group(1))
        elif match.group(0) == "%{":
            raise TemplateError("template directives (%{ ... }) are not supported")
    return found


def render(template: str, variables: Mapping[str, object]) -> str:
    """Renders like Terraform's templatefile() for the `${name}` subset."""
    missing = names(template) - set(variables)
    if missing:
        raise TemplateError(f"vars map does not contain key(s) {sorted(missing)}")

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "$${":
            return "${"
        if token == "%%{":
            return "%{"
        name = _NAME.fullmatch(match.group(1) or "")
        assert name is not None  # names() already checked every expression
        value = variables[name.group(1)]
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return _TOKEN.sub(substitute, template)
