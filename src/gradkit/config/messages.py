"""Turning pydantic's validation errors into gradkit's messages (dotted keys, allowed values,
"did you mean"), for the run schema (gradkit.config) and the schemas it nests."""
from __future__ import annotations

import re

from pydantic import BaseModel, ValidationError

from gradkit.errors import did_you_mean


def _fields_at(schema: type[BaseModel], loc: tuple) -> list[str]:
    for part in loc:
        field = schema.model_fields.get(str(part))
        ann = getattr(field, "annotation", None)
        ann = next((a for a in getattr(ann, "__args__", ()) if isinstance(a, type)
                    and issubclass(a, BaseModel)), ann)  # `Section | None`: the section
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        schema = ann
    return list(schema.model_fields)


def format_validation_error(exc: ValidationError, schema: type[BaseModel], source: str,
                            prefix: str = "") -> str:
    """pydantic's errors as gradkit states them: one line per problem, with its dotted key, the
    allowed values and a "did you mean" (`prefix` names a nested schema, e.g. "model")."""
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
        key = ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc)
        if err["type"] == "extra_forbidden":
            parent = ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc[:-1])
            fields = [f"{parent}.{f}" if parent else f for f in _fields_at(schema, loc[:-1])]
            hint = did_you_mean(key, fields) or (f"; valid keys: {', '.join(fields)}" if fields else "")
            lines.append(f"unknown key '{key}'{hint}")
        elif err["type"] == "literal_error":
            allowed = re.findall(r"'([^']*)'", err["ctx"]["expected"])
            lines.append(
                f"{key}: '{err['input']}' is not one of {', '.join(allowed)}"
                f"{did_you_mean(err['input'], allowed)}"
            )
        else:
            got = err.get("input")
            lines.append(f"{key}: {err['msg']} (got {got!r}, a {type(got).__name__})")
    return f"invalid config ({source}):\n  - " + "\n  - ".join(lines)
