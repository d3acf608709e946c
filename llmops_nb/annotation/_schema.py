"""The annotation schema: the questions asked about each item."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson

__all__ = ["Question", "Schema", "as_schema", "RESERVED"]

QuestionKind = Literal["pass_fail", "categorical", "ordinal", "text", "turn"]
_KINDS = ("pass_fail", "categorical", "ordinal", "text", "turn")
RESERVED = ("skip", "flag")
"""Question names kept for the skip and flag actions."""


@dataclass(frozen=True)
class Question:
    """One question about an item.

    ``kind``: ``pass_fail`` (value True/False), ``categorical`` (one label, or a list with
    ``multi=True``), ``ordinal`` (an integer from ``options``, e.g. 1..5, with a rubric text per
    level), ``text`` (a free note, for open coding) or ``turn`` (a turn picker for session items:
    "which turn went wrong?", turn numbers 1..9, optional; a turn past the session's last turn
    is refused).
    Questions are optional: an item is submitted once at least one question is answered;
    ``required=True`` makes the widget (and :meth:`Session.submit`) refuse an item until this
    question has an answer (``as_schema({"correct": {"kind": "pass_fail", "required": True}})``).

    Example:
        >>> Question("quality", "ordinal", options=[1, 2, 3, 4, 5]).keys()
        ['1', '2', '3', '4', '5']
    """

    name: str
    kind: QuestionKind = "pass_fail"
    options: Sequence[Any] = ()
    multi: bool = False
    rubric: Mapping[str, str] = field(default_factory=dict)
    required: bool | None = None
    prompt: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"question {self.name!r}: kind {self.kind!r} is not valid; valid kinds: {list(_KINDS)}")
        if self.name in RESERVED:
            raise ValueError(f"question name {self.name!r} is reserved for the {self.name} action; choose another name")
        if self.kind == "pass_fail" and not self.options:
            object.__setattr__(self, "options", (True, False))
        if self.kind == "ordinal" and not self.options:
            object.__setattr__(self, "options", (1, 2, 3, 4, 5))
        if self.kind == "turn" and not self.options:
            object.__setattr__(self, "options", tuple(range(1, 10)))
        if self.kind == "categorical" and not self.options:
            raise ValueError(f"categorical question {self.name!r} needs options, e.g. options=['a', 'b']")
        if self.kind in ("categorical", "ordinal", "pass_fail", "turn") and len(self.options) > 10:
            raise ValueError(f"question {self.name!r} has {len(self.options)} options; at most 10 fit the number keys 1-9, 0")
        object.__setattr__(self, "options", tuple(self.options))
        if self.required is None:
            object.__setattr__(self, "required", False)

    def keys(self) -> list[str]:
        """The number key of each option (1..9, then 0)."""
        return [str((i + 1) % 10) for i in range(len(self.options))]

    def option_label(self, value: Any) -> str:
        if self.kind == "pass_fail":
            return "pass" if value is True else "fail"
        if self.kind == "turn":
            return f"turn {value}"
        return str(value)

    def check(self, value: Any) -> Any:
        """Validate and normalise an answer; raises ValueError naming the valid choices."""
        if value is None:
            return None
        if self.kind == "text":
            return str(value)
        if self.kind == "pass_fail":
            if isinstance(value, str) and value.lower() in ("pass", "fail", "true", "false"):
                return value.lower() in ("pass", "true")
            if isinstance(value, bool):
                return value
        elif self.kind == "categorical" and self.multi:
            vals = list(value) if isinstance(value, (list, tuple)) else [value]
            bad = [v for v in vals if v not in self.options]
            if not bad:
                return [o for o in self.options if o in vals]
        elif value in self.options:
            return value
        raise ValueError(f"question {self.name!r}: answer {value!r} is not valid; valid: {list(self.options)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["options"] = list(self.options)
        d["labels"] = [self.option_label(o) for o in self.options]
        d["keys"] = self.keys()
        d["rubric"] = {str(k): v for k, v in dict(self.rubric).items()}
        return d


@dataclass(frozen=True)
class Schema:
    """The questions of an annotation task, with a version (a hash of the questions unless given).

    Example:
        >>> s = Schema([Question("correct"), Question("mode", "categorical", options=["a", "b"])])
        >>> s.names, len(s.version)
        (['correct', 'mode'], 8)
    """

    questions: tuple[Question, ...]
    version: str = ""

    def __init__(self, questions: Sequence[Question | Mapping[str, Any]], version: str = "") -> None:
        qs = tuple(q if isinstance(q, Question) else Question(**dict(q)) for q in questions)
        if not qs:
            raise ValueError("a schema needs at least one question, e.g. Schema([Question('correct')])")
        names = [q.name for q in qs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"question names must be unique; repeated: {dup}")
        object.__setattr__(self, "questions", qs)
        if not version:
            blob = orjson.dumps([q.to_dict() for q in qs], default=str)
            version = hashlib.sha1(blob).hexdigest()[:8]
        object.__setattr__(self, "version", version)

    @property
    def names(self) -> list[str]:
        return [q.name for q in self.questions]

    def question(self, name: str) -> Question:
        for q in self.questions:
            if q.name == name:
                return q
        raise KeyError(f"no question {name!r} in the schema; questions: {self.names}")

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "questions": [q.to_dict() for q in self.questions]}


def as_schema(schema: Any) -> Schema:
    """Build a :class:`Schema` from a Schema, a list of Questions/dicts, a dict
    ``{name: kind or [options]}``, or a single question name (pass/fail).

    Example:
        >>> as_schema({"correct": "pass_fail", "mode": ["billing", "tools"], "note": "text"}).names
        ['correct', 'mode', 'note']
    """
    if isinstance(schema, Schema):
        return schema
    if schema is None:
        return Schema([Question("correct", "pass_fail")])
    if isinstance(schema, str):
        return Schema([Question(schema, "pass_fail")])
    if isinstance(schema, Question):
        return Schema([schema])
    if isinstance(schema, Mapping):
        qs = []
        for name, spec in schema.items():
            if isinstance(spec, Question):
                qs.append(spec)
            elif isinstance(spec, str):
                qs.append(Question(name, spec))  # type: ignore[arg-type]
            elif isinstance(spec, Mapping):
                qs.append(Question(name, **dict(spec)))
            else:
                qs.append(Question(name, "categorical", options=list(spec)))
        return Schema(qs)
    return Schema(list(schema))
