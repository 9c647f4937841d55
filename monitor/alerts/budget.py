"""The sandbox templates run in: Jinja's, with a budget of steps, characters and time. Pure.

Jinja's sandbox stops a template reaching Python's internals, not one taking the service's
memory or time: `''|center(10**9)`, `'%09999999999d'|format(1)`, a string doubled by `~` in a
loop, or three nested loops over a long title. Here every render has a `Budget`:

- steps: each loop iteration, call, attribute look-up, operator and filter is one;
- characters: every value a template makes (by `*`, `+`, `~`, `%`, `format`, filters, string
  methods, the text of `{{ }}` and of macros and blocks) is charged, *before* it is made when
  its size is known beforehand (a width, a repetition), so no single value is ever larger than
  what is left;
- time: a deadline, checked at every step.

Past any of them the render stops with `SecurityError` ("exceeded its budget"), which the
caller turns into a located problem (`monitor check`) or the channel's default message (at
delivery). A few C-level operations are not steps (comparing two deeply nested lists): the
service renders off its event loop, with a deadline of its own, for those.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any, Final

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment, safe_range
from jinja2.utils import Namespace

STEPS: Final = 1_000_000  # loop iterations, calls, look-ups, operators and filters of a render
CHARS: Final = 8_000_000  # characters (or list items) a render may make, all values together
SECONDS: Final = 2.0  # of one render
NUMBERS: Final = 100_000  # numbers all of one render's `range()` calls may give together
REPEAT_MAX: Final = 10_000  # repetitions and exponents beyond this are refused outright
# Filters whose work grows faster than their input (textwrap's and urlize's regular
# expressions: `wordwrap` of 400,000 `-` took 7 s) take at most a message's worth of text.
SLOW_FILTERS: Final = frozenset(["wordwrap", "urlize"])
SLOW_FILTER_CHARS: Final = 64 * 1024
INT_BITS: Final = 16_384  # an integer's size in bits: Python prints at most 4,300 digits anyway


class BudgetExceeded(SecurityError):
    """A render went past its budget of steps, characters or time."""


@dataclass(slots=True)
class Budget:
    """What is left to one render (see the module docstring)."""

    deadline: float
    steps: int = STEPS
    chars: int = CHARS
    numbers: int = NUMBERS

    def step(self) -> None:
        """One more step; past the steps or the deadline, BudgetExceeded."""
        self.steps -= 1
        if self.steps < 0:
            raise BudgetExceeded(f"the template exceeded its budget of {STEPS:,} steps")
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"the template exceeded its budget of {SECONDS:g}s")

    def charge(self, chars: int) -> None:
        """`chars` more characters made (or about to be)."""
        self.chars -= max(0, chars)
        if self.chars < 0:
            raise BudgetExceeded(f"the template exceeded its budget of {CHARS:,} characters")


_budget: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def start_budget() -> Callable[[], None]:
    """Give the renders of this context a fresh budget; returns the call that ends it."""
    token = _budget.set(Budget(deadline=time.monotonic() + SECONDS))
    return lambda: _budget.reset(token)


def _current() -> Budget:
    """The render's budget; outside a render (Jinja folds constant expressions when it
    compiles: `''|center(10**9)` is run then) a fresh one, so sizes are refused all the same."""
    budget = _budget.get()
    return budget if budget is not None else Budget(deadline=time.monotonic() + SECONDS)


def _step() -> Budget:
    budget = _current()
    budget.step()
    return budget


def _check_int_size(operator: str, left: object, right: object) -> None:
    """Refuse `**` and `*` of integers whose result would pass INT_BITS: big-integer arithmetic
    is one C call that holds the GIL, so no deadline could stop it once begun."""
    for operand in (left, right):  # made elsewhere: `%` and `//` of it are quadratic too
        if isinstance(operand, int) and operand.bit_length() > INT_BITS:
            raise BudgetExceeded(f"the template exceeded its budget of {INT_BITS:,}-bit integers")
    if operator not in ("*", "**") or not isinstance(left, int) or not isinstance(right, int):
        return
    if operator == "**":
        bits = left.bit_length() * max(right, 0)
    else:
        bits = left.bit_length() + right.bit_length()
    if bits > INT_BITS:
        raise BudgetExceeded(
            f"the template exceeded its budget of {INT_BITS:,}-bit integers ({bits:,} bits)"
        )


def _charge(chars: int) -> None:
    _current().charge(chars)


def measure(value: object, limit: int = CHARS) -> int:
    """About how many characters `str(value)` has, counted up to a little past `limit`: a
    list nested in itself twice per level is tiny in memory and astronomical as text. Each
    container is counted once however often it is shared (its size is remembered), so this
    takes time in proportion to the memory the value holds, not to the size of its text."""
    sizes: dict[int, int] = {}

    def size(item: object) -> int:
        if isinstance(item, str):
            return len(item) + 2
        if isinstance(item, Namespace):
            item = item._Namespace__attrs  # what its repr shows
        if not isinstance(item, list | tuple | set | frozenset | dict):
            return 24
        known = sizes.get(id(item))
        if known is not None:
            return known
        sizes[id(item)] = 5  # while counting it: a list inside itself shows as `[...]`
        children: Iterable[object] = (
            (*item.keys(), *item.values()) if isinstance(item, dict) else item
        )
        total = 2
        for child in children:
            total += 2 + size(child)
            if total > limit:
                break
        sizes[id(item)] = total
        return total

    return size(value)


def _size(value: str | list[Any] | tuple[Any, ...]) -> int:
    """A string's length; a list's or tuple's size as text (its items may be shared lists)."""
    return len(value) if isinstance(value, str) else measure(value, _current().chars)


_CONTEXT_KWARGS = frozenset(["_loop_vars", "_block_vars", "caller"])  # Jinja's, not the user's


def charge_text(*values: object) -> None:
    """Charge what turning `values` into text makes, refusing it before it is made."""
    budget = _current()
    budget.charge(sum(measure(v, budget.chars) for v in values))


_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")


def _percent_size(fmt: str) -> int:
    """The characters `fmt % args` pads to (`*` widths are refused: their size is unknown)."""
    size = len(fmt)
    for m in _PERCENT.finditer(fmt):
        if "*" in (m[1], m[2]):
            raise SecurityError("a '*' width in a % format is not allowed in a template")
        size += max(int(m[1] or 0), int(m[2] or 0))
    return size


def _format_size(fmt: str) -> int:
    """The characters `fmt.format(...)` pads to (nested `{}` in a format spec are refused)."""
    size = len(fmt)
    for _, _, spec, _ in string.Formatter().parse(fmt):
        if spec and "{" in spec:
            raise SecurityError("a nested {} in a format spec is not allowed in a template")
        size += max((int(d) for d in _DIGITS.findall(spec or "")), default=0)
    return size


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str_method_size(text: str, name: str, args: tuple[Any, ...]) -> int:
    """What calling `text.<name>(*args)` may make, for the methods that grow a string."""
    if name in ("center", "ljust", "rjust", "zfill") and args:
        return max(len(text), _int(args[0]))
    if name == "expandtabs":
        return len(text) * max(1, _int(args[0]) if args else 8)
    if name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        count = text.count(old) if old else len(text) + 1
        if len(args) > 2 and _int(args[2]) >= 0:
            count = min(count, _int(args[2]))
        return len(text) + count * len(new)
    return len(text)


class _Codegen(CodeGenerator):
    """Jinja's code generator, with the buffers of macros and blocks, the `~` operator and
    list, tuple and dict literals charged to the budget (they are otherwise made without any
    hook). A literal is charged the size of its text: `[l, l]` ten times over is tiny in memory
    but a thousand times `l` as text, and comparing two of them (in C, holding the GIL: no
    thread or deadline stops it) takes as long as printing them."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.budgeted_buffer()")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("environment.budgeted_value(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.budgeted_value(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # `{% for a, b in ... %}` assigns to a tuple
            super().visit_Tuple(node, frame)
            return
        self.write("environment.budgeted_value(")
        super().visit_Tuple(node, frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.budgeted_concat(context.eval_ctx.autoescape, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Buffer(list[str]):
    """A macro's or block's output, each piece charged as it is added."""

    def append(self, item: str) -> None:
        _step()
        _charge(len(item))
        super().append(item)

    def extend(self, items: Iterable[str]) -> None:
        for item in items:
            self.append(item)


class BudgetedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, every render within its budget (see the module docstring)."""

    code_generator_class = _Codegen
    intercepted_binops = frozenset(["*", "**", "+", "%", "//"])

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _budgeted_range
        self.globals.pop("lipsum", None)  # `lipsum(10**9)`: and no message needs it
        self.filters = {name: budgeted_filter(name, f) for name, f in self.filters.items()}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """The template's tree, every `for` iterating through `budgeted_iter`."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(
                nodes.EnvironmentAttribute("budgeted_iter", lineno=loop.lineno),
                [loop.iter],
                [],
                None,
                None,
                lineno=loop.lineno,
            )
        return tree

    @staticmethod
    def budgeted_iter(iterable: Iterable[Any]) -> Iterator[Any]:
        """A loop's items, one step each."""
        for item in iterable:
            _step()
            yield item

    @staticmethod
    def budgeted_buffer() -> list[str]:
        """A buffer charging what is written to it."""
        return _Buffer()

    @staticmethod
    def budgeted_value(value: Any) -> Any:
        """A list, tuple or dict literal, charged as text (see `_Codegen`)."""
        _step()
        charge_text(value)
        return value

    @staticmethod
    def budgeted_concat(autoescape: bool, parts: tuple[Any, ...]) -> str:
        """`a ~ b`, charged before it is made."""
        _step()
        charge_text(*parts)
        return markup_join(parts) if autoescape else str_join(parts)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`x.name`, one step."""
        _step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: str | Any) -> Any:
        """`x[key]`, one step."""
        _step()
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """`*`, `**`, `+`, `%` and `//`, refused when their result would exceed what is left."""
        _step()
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError(f"exponent {right} is too large")
        _check_int_size(operator, left, right)
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int):
                    if n > REPEAT_MAX:
                        raise SecurityError("repetition makes too long a value")
                    _charge(_size(seq) * n)
        elif operator == "+" and isinstance(left, str | list | tuple):
            _charge(_size(left) + (_size(right) if isinstance(right, str | list | tuple) else 0))
        elif operator == "%" and isinstance(left, str):
            _charge(_percent_size(left))
            charge_text(right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`'...'.format(...)` and `format_map`, charged for their padding and arguments."""
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        size = _format_size(value.__self__)
        inner = wrapper

        def budgeted(*args: Any, **kwargs: Any) -> str:
            _charge(size)
            charge_text(args, kwargs)
            return inner(*args, **kwargs)

        return budgeted

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """A call, one step; string methods that grow a string are charged beforehand, and
        the lists, dicts and strings a call returns afterwards."""
        _step()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if name == "join" and args:
                args = (list(args[0]), *args[1:])
                _charge(len(owner) * len(args[0]))
                charge_text(args[0])
            else:
                _charge(_str_method_size(owner, name, args))
        else:  # what a call stores (`l.append(x)`, `namespace(a=x)`) is charged as text
            charge_text(args, {k: v for k, v in kwargs.items() if k not in _CONTEXT_KWARGS})
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str | list | tuple | dict):
            _charge(len(result))
        if isinstance(owner, list | dict | set) and len(owner) > CHARS:
            raise BudgetExceeded(f"the template made a collection of over {CHARS:,} items")
        return result


def _budgeted_range(*args: int) -> range:
    """Jinja's `range`, but nested loops cannot multiply their way to hours of work."""
    numbers = safe_range(*args)
    budget = _step()
    budget.numbers -= len(numbers)
    if budget.numbers < 0:
        raise BudgetExceeded(f"the template's ranges give more than {NUMBERS:,} numbers")
    return numbers


def _filter_size(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """What a filter may make beyond its input, for those whose arguments set a size."""
    if name == "center":
        return _int(args[0] if args else kwargs.get("width", 80))
    if name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        pad = len(width) if isinstance(width, str) else _int(width)
        return pad * (str(value).count("\n") + 1)
    if name in SLOW_FILTERS and len(str(value)) > SLOW_FILTER_CHARS:
        raise SecurityError(f"{name} of over {SLOW_FILTER_CHARS:,} characters is refused")
    if name == "wordwrap":
        width = max(1, _int(args[0] if args else kwargs.get("width", 79)))
        sep = args[2] if len(args) > 2 else kwargs.get("wrapstring") or "\n"
        return (len(str(value)) // width + 1) * len(str(sep))
    if name == "format":
        return _percent_size(str(value))
    if name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 else kwargs.get("count")
        return _str_method_size(str(value), "replace", (*args[:2], count if count else -1))
    if name in ("batch", "slice"):
        n = _int(args[0] if args else 0)
        if n > REPEAT_MAX:
            raise SecurityError(f"{name}({n}) is too many for a template")
        return n
    if name == "join":
        sep = args[0] if args else kwargs.get("d", "")
        return len(str(sep)) * (len(value) if hasattr(value, "__len__") else 0)
    if name == "truncate":
        end = args[2] if len(args) > 2 else kwargs.get("end", "...")
        return len(str(end))
    return 0


def budgeted_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func`, one step, its input charged as text and its size arguments beforehand."""
    passes = getattr(func, "jinja_pass_arg", None)

    @wraps(func)
    def budgeted(*args: Any, **kwargs: Any) -> Any:
        _step()
        lead = 1 if passes is not None else 0  # the context, eval context or environment
        own = args[lead:]
        if own:
            charge_text(*own, kwargs)
            _charge(_filter_size(name, own[0], own[1:], kwargs))
        result = func(*args, **kwargs)
        if isinstance(result, str | list | tuple):
            _charge(len(result))
        elif isinstance(result, int) and result.bit_length() > INT_BITS:  # `'f' * n|int(base=16)`
            raise BudgetExceeded(f"the template exceeded its budget of {INT_BITS:,}-bit integers")
        return result

    return budgeted
