"""Where the heavy verbs run: in this process (``"local"``, the default) or on a Ray cluster."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Engine", "engine", "current_engine", "resolve_engine", "EngineError", "ENGINES"]

ENGINES = ("local", "ray")


class EngineError(RuntimeError):
    """Distributed work that failed, naming the failing item (file, rows, evaluator) and the cause.

    Example:
        >>> str(EngineError("evaluate: rows 0-99 of evaluator 'correctness' failed: boom"))
        "evaluate: rows 0-99 of evaluator 'correctness' failed: boom"
    """


@dataclass
class Engine:
    """An engine the heavy verbs (``read_traces``, ``evaluate``, ``cluster``, ``topics``,
    ``find_slices``) run on: ``"local"`` (this process) or ``"ray"`` (a Ray cluster at
    ``address``). Made by :func:`engine`; a context manager that restores the previous engine
    (and stops a Ray runtime it started itself) on exit.

    ``batch_size``: rows per distributed task (None: about four tasks per CPU of the cluster).

    Example:
        >>> e = Engine("local")
        >>> e.name, e.is_ray
        ('local', False)
    """

    name: str = "local"
    address: str | None = None
    batch_size: int | None = None
    init_kwargs: dict[str, Any] = field(default_factory=dict)
    started: bool = False
    _previous: Any = field(default=None, repr=False)

    @property
    def is_ray(self) -> bool:
        return self.name == "ray"

    def connect(self) -> Any:
        """Connect to (or start) Ray once; returns the ``ray`` module. Local: None."""
        if not self.is_ray:
            return None
        from llmops_nb.engines._ray import connect

        return connect(self)

    def cpus(self) -> int:
        """CPUs of the cluster (1 for the local engine)."""
        if not self.is_ray:
            return 1
        ray = self.connect()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def close(self) -> None:
        """Stop the Ray runtime this engine started (a cluster it only connected to keeps running)."""
        if self.is_ray and self.started:
            import ray

            from llmops_nb.engines._ray import _CONNECTED

            if ray.is_initialized():
                ray.shutdown()
            _CONNECTED.clear()
            self.started = False

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        global _CURRENT
        with _LOCK:
            if _CURRENT is self:
                _CURRENT = self._previous if self._previous is not None else Engine("local")
        self.close()

    def __repr__(self) -> str:
        if not self.is_ray:
            return "Engine('local')"
        where = self.address or (f"RAY_ADDRESS={os.environ['RAY_ADDRESS']}" if os.environ.get("RAY_ADDRESS")
                                 else "a local Ray runtime")
        extra = ""
        try:
            import ray

            if ray.is_initialized():
                nodes = [n for n in ray.nodes() if n.get("Alive")]
                extra = f", {len(nodes)} node(s), {self.cpus()} CPU(s)"
        except Exception:  # noqa: BLE001 - a repr never fails
            pass
        return f"Engine('ray' at {where}{extra})"

    def _repr_html_(self) -> str:
        import html

        return f"<code>{html.escape(repr(self))}</code>"


_LOCK = threading.Lock()
_CURRENT: Engine = Engine("local")


def engine(name: str = "local", address: str | None = None, *, batch_size: int | None = None,
           **init_kwargs: Any) -> Engine:
    """Choose where the heavy verbs run from now on: ``"local"`` (this process) or ``"ray"``.

    ``address``: ``None`` starts a Ray runtime on this machine (or reuses the one this process
    already has; with ``$RAY_ADDRESS`` set, joins that cluster instead), never joining a cluster
    some other process started here; ``"auto"`` joins the cluster this machine belongs to
    (``$RAY_ADDRESS``, else the one ``ray start`` started here last); ``"host:port"`` joins that
    cluster's head; ``"ray://host:10001"`` connects through Ray Client (the cluster's Python and
    Ray versions must match this one's). ``init_kwargs`` go to ``ray.init``
    (``runtime_env=``, ``num_cpus=``, ...). Each verb also takes ``engine=`` for one call.
    Works as a context manager: ``with lo.engine("ray"): ...`` restores the previous engine.
    Needs the ``ray`` extra: ``pip install "llmops-nb[ray]"``.

    Example:
        >>> import llmops_nb as lo
        >>> lo.engine("local")
        Engine('local')
    """
    global _CURRENT
    if name not in ENGINES:
        raise ValueError(f"engine {name!r} is not known; valid: {list(ENGINES)}; e.g. lo.engine('ray', address='auto')")
    if name == "local" and (address is not None or init_kwargs):
        raise ValueError("the local engine takes no address or Ray settings; did you mean lo.engine('ray', address=...)?")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size={batch_size!r}; valid: None (automatic) or a whole number >= 1")
    new = Engine(name, address=address, batch_size=batch_size, init_kwargs=dict(init_kwargs))
    if new.is_ray:
        new.connect()
    with _LOCK:
        new._previous = _CURRENT
        _CURRENT = new
    return new


def current_engine() -> Engine:
    """The engine the verbs use when called without ``engine=`` (``LLMOPS_NB_ENGINE=ray`` in the
    environment makes Ray the default of a fresh process).

    Example:
        >>> current_engine().name in ("local", "ray")
        True
    """
    if _CURRENT.name == "local" and os.environ.get("LLMOPS_NB_ENGINE") == "ray":
        return Engine("ray", address=os.environ.get("LLMOPS_NB_RAY_ADDRESS") or None)
    return _CURRENT


def resolve_engine(value: str | Engine | None) -> Engine:
    """The engine a verb runs on: its ``engine=`` argument (a name or an :class:`Engine`), else
    :func:`current_engine`.

    Example:
        >>> resolve_engine("local").name
        'local'
    """
    if value is None:
        return current_engine()
    if isinstance(value, Engine):
        return value
    if value == "local":
        return Engine("local")
    if value == "ray":
        cur = current_engine()
        return cur if cur.is_ray else Engine("ray")
    raise ValueError(f"engine={value!r} is not valid; valid: {list(ENGINES)} or an Engine from lo.engine(...)")
