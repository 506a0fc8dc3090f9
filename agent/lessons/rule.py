"""The ``smart_classroom_use`` rule: a small, safe boolean expression over one lesson.

Syntax (a subset of Python expressions, parsed with ``ast`` and checked node by node;
nothing is ever ``eval``-ed):

    panel_on_ratio >= 0.5 or recorded or tablets_used
    (panel_on_minutes >= 20 and tablets_active >= 10) or recorded_minutes > 30

- names: see ``VARIABLES`` (unknown names are a config error);
- numbers, ``true``/``false`` (also ``True``/``False``);
- comparisons ``< <= > >= == !=`` (chains allowed), ``and``, ``or``, ``not``, brackets;
- arithmetic ``+ - * /`` on numbers.

A variable that is unknown for a lesson (e.g. ``mean_head_up_rate`` with no camera) is
None; any comparison or arithmetic with None is false / None, so the rule never fails.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

# name -> what it means (also the docs table in docs/lessons.md)
VARIABLES: dict[str, str] = {
    "minutes": "lesson length in minutes",
    "panel_on_minutes": "minutes the panel was on",
    "panel_on_ratio": "panel on-minutes / lesson minutes (0..1)",
    "recorded": "any recording made during the lesson",
    "recorded_minutes": "minutes recorded",
    "recordings": "number of recordings",
    "live_minutes": "minutes pushed live to the district (outages excluded)",
    "live": "a live lesson: live for at least live.min_minutes",
    "tablets_used": "any tablet check-in, answer or hand raise",
    "tablets_active": "distinct tablets active",
    "checkins": "tablet check-ins",
    "answers": "tablet answers",
    "hand_raises": "tablet hand raises",
    "present": "students checked in on time",
    "late": "students checked in late",
    "roster_size": "students enrolled (None if unknown)",
    "head_count_max": "largest anonymous head count (None without camera)",
    "mean_head_up_rate": "mean head-up rate 0..1 (None without camera)",
    "scheduled": "the lesson is in the timetable (false for ad-hoc lessons)",
    "class_minutes": "scheduled minutes of the lesson (ad-hoc: observed minutes)",
    "assignments": "tablet assignments set during the lesson",
    "submissions": "tablet assignment submissions received during the lesson",
}

# the names of ``recording.quality_rule``: one recording, judged when it is kept as a
# showcase lesson (also in docs/lessons.md)
QUALITY_VARIABLES: dict[str, str] = {
    "finished": "the recording ended normally (not failed, not cut short by a crash)",
    "minutes": "recording length in minutes",
    "gap_s": "seconds in total that a camera delivered nothing (all cameras)",
    "gaps": "number of camera gaps",
    "cameras": "cameras in the recording",
    "cameras_missing": "configured cameras absent from the recording or without any file",
    "all_cameras": "every configured camera is in the recording with files (no missing)",
    "subject": "the recording has a subject (true/false)",
}

MAX_RULE_CHARS = 500

_CMP: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_ARITH: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_CONSTS = {"true": True, "false": False, "True": True, "False": False}


class RuleError(ValueError):
    pass


Rule = Callable[[dict[str, Any]], bool]


def compile_rule(text: str, variables: dict[str, str] | None = None) -> Rule:
    """Parse and check ``text`` against ``variables`` (default: the lesson rule's
    ``VARIABLES``); the result maps a variables dict to a bool."""
    if not text.strip():
        raise RuleError("empty rule")
    if len(text) > MAX_RULE_CHARS:
        raise RuleError(f"longer than {MAX_RULE_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise RuleError(f"syntax error at column {e.offset or 0}: {text.strip()!r}") from None
    _check(tree.body, VARIABLES if variables is None else variables)
    body = tree.body

    def rule(values: dict[str, Any]) -> bool:
        try:
            return bool(_eval(body, values))
        except (ArithmeticError, TypeError):
            return False

    return rule


def _check(node: ast.AST, names: dict[str, str]) -> None:
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        _check(node.operand, names)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _CMP:
                raise RuleError(f"operator {type(op).__name__} not allowed")
        _check(node.left, names)
        for c in node.comparators:
            _check(c, names)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITH:
            raise RuleError(f"operator {type(node.op).__name__} not allowed")
        _check(node.left, names)
        _check(node.right, names)
    elif isinstance(node, ast.Name):
        if node.id not in names and node.id not in _CONSTS:
            known = ", ".join(sorted(names))
            raise RuleError(f"unknown name {node.id!r} (known: {known})")
    elif isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise RuleError(f"only numbers and true/false allowed, got {node.value!r}")
    else:
        raise RuleError(f"{type(node).__name__} not allowed in a rule")


def _eval(node: ast.AST, values: dict[str, Any]) -> Any:
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_truth(_eval(v, values)) for v in node.values)
        return any(_truth(_eval(v, values)) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, values)
        if isinstance(node.op, ast.Not):
            return not _truth(v)
        return None if v is None else -v
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            right = _eval(comp, values)
            if left is None or right is None or not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, values), _eval(node.right, values)
        if a is None or b is None:
            return None
        return _ARITH[type(node.op)](a, b)
    if isinstance(node, ast.Name):
        if node.id in _CONSTS:
            return _CONSTS[node.id]
        return values.get(node.id)
    if isinstance(node, ast.Constant):
        return node.value
    raise TypeError(type(node).__name__)  # unreachable after _check


def _truth(v: Any) -> bool:
    return bool(v) if v is not None else False
