"""Deprecated names kept working for one release, each with a DeprecationWarning naming the new one."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["deprecated_alias", "renamed_argument", "removed_argument", "warn_deprecated"]

F = TypeVar("F", bound=Callable[..., Any])


def warn_deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (removed in the next release).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as w:
        ...     warnings.simplefilter("always")
        ...     warn_deprecated("old_name", "new_name")
        >>> str(w[0].message)
        'old_name is deprecated; use new_name (the old name goes away in the next release)'
    """
    warnings.warn(f"{old} is deprecated; use {new} (the old name goes away in the next release)",
                  DeprecationWarning, stacklevel=stacklevel)


def deprecated_alias(func: F, old: str, new: str) -> F:
    """``func`` under its old public name ``old``: same behaviour, plus a DeprecationWarning.

    Example:
        >>> import warnings
        >>> f = deprecated_alias(abs, "pkg.absolute", "abs")
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     f(-2)
        2
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        warn_deprecated(old, new)
        return func(*args, **kwargs)

    wrapper.__doc__ = f"Deprecated: use :func:`{new}` (this alias goes away in the next release).\n\n" + (
        func.__doc__ or "")
    return wrapper  # type: ignore[return-value]


def renamed_argument(old: str, new: str, where: str) -> Callable[[F], F]:
    """Decorator: accept the keyword ``old`` as a deprecated spelling of ``new``.

    Example:
        >>> import warnings
        >>> @renamed_argument("random_state", "seed", "f")
        ... def f(*, seed=0):
        ...     return seed
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     f(random_state=3)
        3
    """

    def deco(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs and kwargs[new] is not None:
                    raise TypeError(f"{where}: pass {new}= only ({old}= is its deprecated spelling)")
                warn_deprecated(f"{where}({old}=...)", f"{where}({new}=...)")
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


def removed_argument(name: str, where: str, why: str) -> Callable[[F], F]:
    """Decorator: still accept the keyword ``name`` (which never had an effect), warn, ignore it.

    Example:
        >>> import warnings
        >>> @removed_argument("fast", "g", "it was never read")
        ... def g(x):
        ...     return x
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     g(1, fast=True)
        1
    """

    def deco(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if name in kwargs:
                kwargs.pop(name)
                warnings.warn(f"{where}({name}=...) is deprecated and ignored ({why}); drop it "
                              "(it goes away in the next release)", DeprecationWarning, stacklevel=2)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco
