"""The evaluator model: one small base class, a decorator for plain functions, a registry of
evaluators by name (so a results row says exactly which evaluator made it), and the normalisation
of what an evaluator returns into result fields.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import inspect
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Union

import orjson

from llmops_nb.schema import is_missing

__all__ = [
    "EvaluationReason",
    "JudgeOutput",
    "Evaluator",
    "FunctionEvaluator",
    "evaluator",
    "load_evaluator",
    "registered_evaluators",
    "EvaluatorOutput",
    "row_get",
]

Scalar = Union[bool, int, float, str, None]


@dataclass
class EvaluationReason:
    """A value with the reason for it.

    Example:
        >>> EvaluationReason(True, "the answer cites the policy").reason
        'the answer cites the policy'
    """

    value: Scalar
    reason: str | None = None


@dataclass
class JudgeOutput(EvaluationReason):
    """A value with its reason plus the cost of obtaining it (what LLM judges return).

    ``score``/``label``/``passed`` override the views derived from ``value`` when given.

    Example:
        >>> JudgeOutput("pass", "grounded", passed=True, judge_model="openai/gpt-4o-mini").passed
        True
    """

    score: float | None = None
    label: str | None = None
    passed: bool | None = None
    judge_model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    simulated: bool | None = None
    error: str | None = None


EvaluatorOutput = Union[Scalar, EvaluationReason, Mapping[str, Union[Scalar, EvaluationReason]]]

_REGISTRY: dict[str, type[Evaluator] | FunctionEvaluator] = {}


def _snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.lower()


_CREDENTIAL_KEYS = frozenset({"api_key", "azure_ad_token", "aws_secret_access_key", "aws_session_token", "extra_headers",
                              "headers"})


def _jsonable(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_jsonable(x) for x in v]
    if isinstance(v, re.Pattern):
        return v.pattern
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _jsonable(dataclasses.asdict(v))
    if hasattr(v, "tolist"):
        return v.tolist()
    return repr(v)


class Evaluator:
    """Base class of every evaluator: a name, a version, parameters and one ``evaluate(row)``.

    Subclasses are usually dataclasses whose fields are the parameters. ``evaluate`` (``def``
    or ``async def``) receives one row of the spans or traces table (a ``dict``) and returns a
    bool, a number, a label (str), an :class:`EvaluationReason`, a mapping of these (one result
    row per key, named ``<name>.<key>``), or ``None`` when the check does not apply to the row
    (no result row). A rule check may also define ``evaluate_batch(frame) -> list`` to check a
    whole frame at once; it is used when present.

    Class attributes: ``version`` (bump it when the logic changes), ``level`` (``"span"``, or
    ``"trace"`` for evaluators that read a whole trace: they get ``row["spans"]``; ``"session"``
    for evaluators that read a whole conversation: they get a row of the sessions table with
    the spans of all its turns in ``row["spans"]``, and their results carry ``session_id``),
    ``detector`` (True when a True value means a problem was found, so ``passed = not value``),
    ``threshold`` (numbers pass when ``>= threshold``).

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class ShortAnswer(Evaluator):
        ...     max_words: int = 50
        ...     def evaluate(self, row):
        ...         return len((row.get("output_text") or "").split()) <= self.max_words
        >>> ShortAnswer(10).evaluate({"output_text": "fine"}), ShortAnswer(10).spec()
        (True, {'name': 'short_answer', 'params': {'max_words': 10}})
    """

    version: ClassVar[str] = "1"
    level: ClassVar[Literal["span", "trace", "session"]] = "span"
    detector: ClassVar[bool] = False
    registry_name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "registry_name" not in cls.__dict__ or not cls.__dict__["registry_name"]:
            cls.registry_name = _snake(cls.__name__)
        if not cls.__name__.startswith("_") and cls.__name__ != "FunctionEvaluator":
            _REGISTRY[cls.registry_name] = cls

    # ------------------------------------------------------------------ identity
    @property
    def evaluation_name(self) -> str:
        """The name written in the results' ``evaluator`` column (the ``name`` field if set)."""
        return getattr(self, "name", None) or self.registry_name

    def params(self) -> dict[str, Any]:
        """The non-default parameters (enough to rebuild the evaluator with its class)."""
        out: dict[str, Any] = {}
        if dataclasses.is_dataclass(self):
            for f in dataclasses.fields(self):
                if not f.init or f.name.startswith("_") or f.name in getattr(self, "_secret_fields", ()):
                    continue
                v = getattr(self, f.name)
                if f.default is not dataclasses.MISSING and _eq(v, f.default):
                    continue
                if f.default_factory is not dataclasses.MISSING and _eq(v, f.default_factory()):
                    continue
                if isinstance(v, Mapping):  # credentials passed through a dict (extra=) are never saved
                    v = {k: x for k, x in v.items() if k not in _CREDENTIAL_KEYS}
                out[f.name] = _jsonable(v)
        return out

    def spec(self) -> dict[str, Any]:
        """``{"name": registry name, "params": non-default parameters}`` (plus ``"class":
        "module:qualname"`` for evaluators defined outside llmops_nb, so a later session can
        import them); see :func:`load_evaluator`."""
        out: dict[str, Any] = {"name": self.registry_name, "params": self.params()}
        cls = type(self)
        if not cls.__module__.startswith("llmops_nb."):
            out["class"] = f"{cls.__module__}:{cls.__qualname__}"
        return out

    @property
    def params_hash(self) -> str:
        """A short hash of the evaluator's name, version and parameters: its identity in the
        results. Transport and credentials (``api_base``, ``api_key``, timeouts, also inside
        ``extra``) are left out: moving a judge to another endpoint is the same evaluation."""
        from llmops_nb.llm import TRANSPORT_KEYS

        spec = self.spec()
        params = {k: v for k, v in spec["params"].items() if k not in TRANSPORT_KEYS}
        if isinstance(params.get("extra"), dict):
            params["extra"] = {k: v for k, v in params["extra"].items() if k not in TRANSPORT_KEYS} or None
            if params["extra"] is None:
                del params["extra"]
        payload = orjson.dumps({**spec, "params": params, "version": self.version}, option=orjson.OPT_SORT_KEYS,
                               default=str)
        return hashlib.sha256(payload).hexdigest()[:12]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, row: dict[str, Any]) -> Any:
        """Evaluate one row (a dict of the row's columns); see the class docstring."""
        raise NotImplementedError(f"{type(self).__name__} must define evaluate(row)")

    def passed_of(self, value: Any) -> bool | None:
        """The pass / fail view of a value (None when the evaluator defines none)."""
        if isinstance(value, bool):
            return (not value) if self.detector else value
        thr = getattr(self, "threshold", None)
        if isinstance(value, (int, float)) and thr is not None and not (isinstance(value, float) and math.isnan(value)):
            return float(value) >= float(thr)
        ok = getattr(self, "pass_labels", None)
        if isinstance(value, str) and ok:
            return value in ok
        return None


def _eq(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False


class FunctionEvaluator(Evaluator):
    """An evaluator made from a plain function by :func:`evaluator` (see there).

    Example:
        >>> ev = FunctionEvaluator(lambda row: len(row["output_text"] or "") < 100, name="short")
        >>> ev.name
        'short'
    """

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, version: str = "1",
                 level: Literal["span", "trace", "session"] = "span", detector: bool = False,
                 threshold: float | None = None, kwargs: Mapping[str, Any] | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.version = version  # type: ignore[misc]
        self.level = level  # type: ignore[misc]
        self.detector = detector  # type: ignore[misc]
        self.threshold = threshold
        self.kwargs = dict(kwargs or {})
        self.registry_name = self.name  # type: ignore[misc]
        self._is_async = inspect.iscoroutinefunction(fn)

    def __call__(self, **kwargs: Any) -> FunctionEvaluator:
        """A copy bound to keyword arguments (saved as the evaluator's parameters)."""
        return FunctionEvaluator(self.fn, name=self.name, version=self.version, level=self.level,
                                 detector=self.detector, threshold=self.threshold, kwargs={**self.kwargs, **kwargs})

    def params(self) -> dict[str, Any]:
        return {k: _jsonable(v) for k, v in self.kwargs.items()}

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params(), "function": f"{self.fn.__module__}:{self.fn.__qualname__}"}

    def evaluate(self, row: dict[str, Any]) -> Any:
        return self.fn(row, **self.kwargs)

    def __repr__(self) -> str:
        return f"evaluator({self.name!r}, {self.kwargs!r})" if self.kwargs else f"evaluator({self.name!r})"


def evaluator(fn: Callable[..., Any] | None = None, *, name: str | None = None, version: str = "1",
              level: Literal["span", "trace", "session"] = "span", detector: bool = False,
              threshold: float | None = None) -> Any:
    """Turn a function ``fn(row, **params)`` (sync or async) into an evaluator, registered by name.

    Call the result with keyword arguments to bind parameters: they are saved with the results.

    Example:
        >>> import llmops_nb as lo
        >>> @lo.evaluator
        ... def mentions(row, word="refund"):
        ...     return word in (row.get("output_text") or "")
        >>> mentions.evaluate({"output_text": "a refund"}), mentions(word="x").spec()["params"]
        (True, {'word': 'x'})
    """

    def wrap(f: Callable[..., Any]) -> FunctionEvaluator:
        ev = FunctionEvaluator(f, name=name, version=version, level=level, detector=detector, threshold=threshold)
        _REGISTRY[ev.name] = ev
        return ev

    return wrap(fn) if fn is not None else wrap


def registered_evaluators() -> list[str]:
    """Names of the evaluators that :func:`load_evaluator` can rebuild.

    Example:
        >>> "regex" in registered_evaluators()
        True
    """
    _load_builtins()
    return sorted(_REGISTRY)


def _load_builtins() -> None:
    from llmops_nb.evals import _judge, _metrics, _retrieval, _rules, _session, _trajectory  # noqa: F401


def load_evaluator(spec: str | Mapping[str, Any] | Evaluator, **overrides: Any) -> Evaluator:
    """Rebuild an evaluator from its name and arguments (what :meth:`Evaluator.spec` and the
    results' ``evaluator``/``params`` columns hold).

    ``spec`` is a name (``"is_json"``), ``{"name": ..., "params": {...}}``, ``{"regex":
    {"pattern": ...}}``, or an evaluator (returned as is). ``overrides`` are extra parameters
    (for example ``api_key`` for a judge, which is never saved).

    Example:
        >>> load_evaluator({"name": "regex", "params": {"pattern": "^OK"}})
        Regex(pattern='^OK')
    """
    if isinstance(spec, Evaluator):
        return spec
    _load_builtins()
    fn_path = None
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, Mapping):
        if "name" in spec:
            name, params = spec["name"], dict(spec.get("params") or {})
            fn_path = spec.get("function") or spec.get("class")
        elif len(spec) == 1:
            name, params = next(iter(spec.items()))
            params = dict(params or {})
        else:
            raise ValueError(f"evaluator spec {dict(spec)!r} is not valid; use {{'name': ..., 'params': {{...}}}}")
    else:
        raise TypeError(f"cannot load an evaluator from {type(spec).__name__}; pass a name, a spec dict or an Evaluator")
    params.update(overrides)
    target = _REGISTRY.get(name)
    if target is None and fn_path:
        mod, _, qual = fn_path.partition(":")
        importlib.import_module(mod)
        target = _REGISTRY.get(name)
    if target is None:
        raise KeyError(
            f"no evaluator named {name!r}; registered: {sorted(_REGISTRY)}. Import the module that "
            "defines it (decorated with @evaluator or subclassing Evaluator) first."
        )
    if isinstance(target, FunctionEvaluator):
        return target(**params)
    return target(**params)


def row_get(row: Mapping[str, Any], field: str, default: Any = None) -> Any:
    """A field of a row: a column, or a key of its ``metadata`` / ``attributes`` (dotted paths
    such as ``metadata.reference`` work too).

    Example:
        >>> row_get({"metadata": {"reference": "42"}}, "reference")
        '42'
    """
    if field in row:
        v = row[field]
        if not is_missing(v):
            return v
    if "." in field:
        head, _, rest = field.partition(".")
        base = row.get(head)
        if isinstance(base, Mapping):
            return row_get(base, rest, default)
    for container in ("metadata", "attributes"):
        m = row.get(container)
        if isinstance(m, Mapping) and field in m and not is_missing(m[field]):
            return m[field]
    return default


def outputs_of(ev: Evaluator, out: Any) -> list[dict[str, Any]]:
    """Normalise what ``evaluate`` returned into result fields (one dict per output)."""
    if out is None:
        return []
    base = ev.evaluation_name
    if isinstance(out, Mapping):
        rows = []
        for k, v in out.items():
            rows.extend(_one(ev, f"{base}.{k}", v))
        return rows
    return _one(ev, base, out)


def _one(ev: Evaluator, name: str, out: Any) -> list[dict[str, Any]]:
    if out is None:
        return []
    rec: dict[str, Any] = {"evaluator": name}
    if isinstance(out, EvaluationReason):
        value, rec["explanation"] = out.value, out.reason
        if isinstance(out, JudgeOutput):
            for k in ("judge_model", "prompt_tokens", "completion_tokens", "cost_usd", "simulated", "error"):
                rec[k] = getattr(out, k)
    else:
        value = out
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # type: ignore[union-attr]
    if not isinstance(value, (bool, int, float, str)) and value is not None:
        raise TypeError(
            f"evaluator {name!r} returned {type(value).__name__} {value!r}; return a bool, a number, "
            "a label (str), an EvaluationReason or a mapping of these"
        )
    rec["value"] = value
    rec["score"], rec["label"] = views(value)
    rec["passed"] = ev.passed_of(value)
    if isinstance(value, bool) and rec["passed"] is not None:
        rec["label"] = "pass" if rec["passed"] else "fail"
    if isinstance(out, JudgeOutput):
        if out.score is not None:
            rec["score"] = out.score
        if out.label is not None:
            rec["label"] = out.label
        if out.passed is not None:
            rec["passed"] = out.passed
    return [rec]


def views(value: Any) -> tuple[float | None, str | None]:
    """The numeric and label views of a value."""
    if isinstance(value, bool):
        return (1.0 if value else 0.0), ("pass" if value else "fail")
    if isinstance(value, (int, float)):
        return float(value), None
    if isinstance(value, str):
        return None, value
    return None, None
