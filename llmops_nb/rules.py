"""One grammar for the rules of gates and targets, shared by evaluation gates
(:func:`llmops_nb.gate`), experiment gates (:func:`llmops_nb.experiments.gate_experiments`) and
monitoring targets (:func:`llmops_nb.check_slos`).

A rule is ``METRIC OP NUMBER``: ``groundedness >= 0.9``, ``p95_latency_ms <= 2000``. ``OP`` is
one of ``>= <= > < == !=``. A trailing ``%`` always means per cent: the number is divided by 100
(``90%`` is 0.9; ``cost_increase <= 10%`` is a relative increase of at most 0.10). Where a bare
metric is allowed (experiment gates: "no significant regression") the comparison is optional.
The mapping form ``{"groundedness": ">= 0.9", "faithfulness": 0.8}`` reads a bare number as
``>=``.

Example:
    >>> r = parse_rule("groundedness >= 90%")
    >>> r.metric, r.op, r.threshold, r.percent, r.holds(0.93)
    ('groundedness', '>=', 0.9, True, True)
    >>> [str(r) for r in rules_from({"helpfulness": 0.8, "cost_usd": "<= 0.5"})]
    ['helpfulness >= 0.8', 'cost_usd <= 0.5']
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Rule", "parse_rule", "rules_from", "OPS"]

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
    "!=": lambda a, b: not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12),
}
_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)"
_RULE = re.compile(r"^\s*([\w.\-:/]+)\s*(?:(>=|<=|==|!=|>|<)\s*" + _NUM + r")?\s*$")
_OP_FIRST = re.compile(r"^\s*(>=|<=|==|!=|>|<)")


@dataclass(frozen=True)
class Rule:
    """A parsed rule: ``metric``, ``op`` and ``threshold`` (None for a bare metric); ``percent``
    when the number was written with ``%`` (``threshold`` then holds the fraction).

    Example:
        >>> Rule("cost_increase", "<=", 0.1, percent=True)
        Rule('cost_increase <= 10%')
    """

    metric: str
    op: str | None = None
    threshold: float | None = None
    percent: bool = False

    def holds(self, value: float) -> bool:
        """Whether ``value`` satisfies the comparison (always True for a bare metric).

        Example:
            >>> parse_rule("p95_latency_ms <= 2000").holds(2500.0)
            False
        """
        if self.op is None or self.threshold is None:
            return True
        return OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        if self.op is None or self.threshold is None:
            return self.metric
        num = f"{self.threshold * 100:g}%" if self.percent else f"{self.threshold:g}"
        return f"{self.metric} {self.op} {num}"

    def __repr__(self) -> str:
        return f"Rule({str(self)!r})"


def parse_rule(text: str, *, bare: bool = False) -> Rule:
    """Parse ``"METRIC OP NUMBER[%]"``; with ``bare=True`` a metric alone is a rule too.

    Example:
        >>> parse_rule("p95_latency_ms<=2000")
        Rule('p95_latency_ms <= 2000')
        >>> parse_rule("correctness", bare=True).op is None
        True
    """
    m = _RULE.match(str(text))
    if not m or (m.group(2) is None and not bare):
        form = "'METRIC' or 'METRIC OP NUMBER'" if bare else "'METRIC OP NUMBER'"
        raise ValueError(
            f"rule {text!r} is not valid; write {form} with OP one of {list(OPS)}, e.g. "
            "'groundedness >= 0.9', 'p95_latency_ms <= 2000' or 'cost_increase <= 10%' (% divides by 100)"
        )
    metric, op, num, pct = m.groups()
    if op is None:
        return Rule(metric)
    value = float(num) / 100 if pct else float(num)
    return Rule(metric, op, value, bool(pct))


def rules_from(rules: Mapping[str, str | float] | Sequence[str] | str, *, bare: bool = False) -> list[Rule]:
    """Rules from a list of strings, one string, or a mapping ``{metric: "OP NUMBER" | number}``
    (a bare number means ``>=``).

    Example:
        >>> rules_from(["a >= 1", "b < 2%"])
        [Rule('a >= 1'), Rule('b < 2%')]
    """
    if isinstance(rules, str):
        return [parse_rule(rules, bare=bare)]
    if isinstance(rules, Mapping):
        out = []
        for metric, target in rules.items():
            t = str(target).strip()
            out.append(parse_rule(f"{metric} {t if _OP_FIRST.match(t) else '>= ' + t}", bare=bare))
        return out
    return [parse_rule(r, bare=bare) for r in rules]
