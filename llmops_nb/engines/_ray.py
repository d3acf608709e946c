"""The Ray side of the engine: connecting, running tasks with a progress bar and errors that name
the failing item, and the cluster-wide services of an LLM evaluation (one request and token rate
per model for the whole cluster; one answer cache, kept on the driver's machine)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from llmops_nb._optional import require
from llmops_nb.engines._engine import Engine, EngineError
from llmops_nb.llm import CallCache, progress_bar

__all__ = ["connect", "ray_address", "run_tasks", "rate_limiter", "shared_cache", "SharedCallCache", "SharedLimits", "tasks_for",
           "shared_budget", "SharedBudget"]
# ``ray`` itself is imported only when an engine connects: importing this module costs nothing

NAMESPACE = "llmops_nb"
LIMITER_NAME = "llmops_nb.rate_limiter"


_CONNECTED: list[str] = []  # the address this process's Ray runtime was started or joined with


def ray_address(address: str | None) -> str:
    """What ``ray.init`` is given for an engine's ``address``: ``None`` is ``$RAY_ADDRESS`` when
    set, else ``"local"`` (a new Ray runtime on this machine: never a cluster some other process
    started here, which Ray's own ``address=None`` would join); ``"auto"``, ``"host:port"`` and
    ``"ray://host:10001"`` go as they are.

    Example:
        >>> import os
        >>> ray_address(None) == (os.environ.get("RAY_ADDRESS") or "local"), ray_address("auto")
        (True, 'auto')
    """
    if address is None:
        return os.environ.get("RAY_ADDRESS") or "local"
    return address


def connect(eng: Engine) -> Any:
    """``ray`` connected to the engine's cluster (see :func:`ray_address`). An engine without an
    address uses the Ray runtime this process already has; one with an address other than the
    one that runtime was made with is an error (Ray holds one connection per process)."""
    ray = require("ray", "engine='ray'")
    if ray.is_initialized():
        if eng.address is not None and _CONNECTED and _CONNECTED[0] != eng.address and eng.address != "auto":
            raise EngineError(f"address={eng.address!r}: this process is already connected to Ray at "
                              f"{_CONNECTED[0]!r}; run lo.engine('local') and ray.shutdown() first, or use "
                              "lo.engine('ray') to keep that connection")
        return ray
    address = ray_address(eng.address)
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING", "namespace": NAMESPACE,
                              "configure_logging": True, "log_to_driver": True}
    if address.startswith("ray://"):  # Ray Client: the cluster's own settings
        kwargs = {"namespace": NAMESPACE, "logging_level": "WARNING"}
    kwargs.update(eng.init_kwargs)
    try:
        ray.init(address=address, **kwargs)
    except ValueError as e:
        if "ray[client]" in str(e):  # Ray Client needs grpcio, which the plain ray wheel lacks
            raise ImportError(f"address={address!r} connects through Ray Client, which needs grpcio: "
                              'pip install "llmops-nb[ray]" (it installs ray[client])') from None
        raise
    except ConnectionError as e:
        raise EngineError(f"could not connect to the Ray cluster at address={address!r}: {e}; start one with "
                          "'ray start --head' (then address='auto'), pass its 'ray://host:10001' address, or "
                          "address=None to start Ray on this machine") from None
    _CONNECTED[:] = [eng.address if eng.address is not None else address]
    eng.started = address == "local"
    return ray


def tasks_for(eng: Engine, n_items: int, per_cpu: int = 4) -> int:
    """How many tasks to cut ``n_items`` into: the engine's ``batch_size``, else about
    ``per_cpu`` tasks per CPU of the cluster.

    Example:
        >>> tasks_for(Engine("local"), 10), tasks_for(Engine("local", batch_size=3), 10)
        (4, 4)
    """
    if n_items <= 0:
        return 0
    if eng.batch_size:
        return max(1, -(-n_items // eng.batch_size))
    return max(1, min(n_items, per_cpu * eng.cpus()))


_REMOTES: dict[Any, Any] = {}


def _remote(ray: Any, fn: Callable[..., Any], max_retries: int) -> Any:
    key = (fn, max_retries)
    r = _REMOTES.get(key)
    if r is None:
        # SPREAD: the tasks go to every node, not first to fill the driver's
        r = _REMOTES[key] = ray.remote(fn).options(max_retries=max_retries, scheduling_strategy="SPREAD")
    return r


def _cause(ray: Any, err: BaseException) -> BaseException:
    """The exception a task raised, unwrapped from Ray's wrapper."""
    if isinstance(err, ray.exceptions.RayTaskError):
        cause = getattr(err, "cause", None)
        if isinstance(cause, BaseException):
            return cause
    return err


def run_tasks(eng: Engine, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]], *, labels: Sequence[str],
              desc: str, weights: Sequence[int] | None = None, progress: bool | None = None,
              max_retries: int = 3, passthrough: tuple[type[BaseException], ...] = (),
              on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """Run ``fn(*args)`` for each of ``calls`` as Ray tasks; results in the order of ``calls``.

    A task whose worker or node dies is retried (``max_retries``). A task that raises stops the
    run: exceptions of the ``passthrough`` types (a LoadError naming its file, an
    LLMConfigError) are raised as they are; any other becomes an :class:`EngineError` naming
    ``labels[i]``. When several tasks fail, the first in the order of ``calls`` is raised, as
    a single process reading them in order would. ``weights``: progress units per task;
    ``on_result(i, value)`` is called as each task finishes (to store results as they come).

    Example:
        >>> import llmops_nb as lo
        >>> with lo.engine("ray") as eng:  # doctest: +SKIP
        ...     run_tasks(eng, pow, [(2, 3), (3, 2)], labels=["a", "b"], desc="powers")
        [8, 9]
    """
    ray = connect(eng)
    remote = _remote(ray, fn, max_retries)
    refs = [remote.remote(*args) for args in calls]
    pos = {ref: i for i, ref in enumerate(refs)}
    out: list[Any] = [None] * len(refs)
    done_flags = [False] * len(refs)
    failed: dict[int, BaseException] = {}
    w = list(weights) if weights is not None else [1] * len(refs)
    bar = progress_bar(sum(w), f"{desc} on Ray", progress)
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in ready:
                i = pos[ref]
                try:
                    out[i] = ray.get(ref)
                    done_flags[i] = True
                    if on_result is not None:
                        on_result(i, out[i])
                except Exception as e:  # noqa: BLE001 - named below
                    failed[i] = e
                if bar is not None:
                    bar.update(w[i])
            if failed:
                first = min(failed)
                if all(done_flags[j] or j in failed for j in range(first)):
                    raise _surface(ray, failed[first], labels[first], desc, max_retries, passthrough)
        return out
    finally:
        if bar is not None:
            bar.close()
        for ref in pending:
            with contextlib.suppress(Exception):  # best effort
                ray.cancel(ref, force=False)


def _surface(ray: Any, err: BaseException, label: str, desc: str, retries: int,
             passthrough: tuple[type[BaseException], ...]) -> BaseException:
    cause = _cause(ray, err)
    if passthrough and isinstance(cause, passthrough):
        return cause
    lost = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError)
    if isinstance(err, lost) or isinstance(cause, lost):
        e = EngineError(f"{desc}: {label}: its Ray worker died {retries + 1} time(s) ({type(cause).__name__}); "
                        "the rows of the other tasks are kept; look at the node's memory and logs "
                        "(ray logs / /tmp/ray/session_latest/logs) and run again")
    else:
        text = str(cause).strip().splitlines()
        e = EngineError(f"{desc}: {label} failed on the Ray cluster: {type(cause).__name__}: "
                        f"{text[-1] if text else ''}")
    e.__cause__ = cause
    return e


# ---------------------------------------------------------------- cluster-wide rate limits
class _Limiter:
    """One pace per (kind, model) for the whole cluster: each reservation gets the next free
    slot (``60 / per_minute`` seconds per unit, no burst) and the wait until it."""

    def __init__(self) -> None:
        self.next: dict[tuple[str, str], float] = {}
        self.granted: dict[tuple[str, str], float] = {}
        self.recent: dict[tuple[str, str], list[float]] = {}

    def reserve(self, kind: str, model: str, units: float, per_minute: float) -> float:
        now = time.monotonic()
        key = (kind, model)
        t = max(now, self.next.get(key, 0.0))
        self.next[key] = t + 60.0 / float(per_minute) * units
        self.granted[key] = self.granted.get(key, 0.0) + units
        recent = self.recent.setdefault(key, [])
        recent.append(t)
        del recent[:-1000]
        return t - now

    def slots(self, kind: str, model: str) -> list[float]:
        """The start times (this actor's monotonic clock) of the last 1,000 slots granted."""
        return list(self.recent.get((kind, model), []))

    def adjust(self, kind: str, model: str, units: float, per_minute: float) -> None:
        key = (kind, model)
        self.next[key] = self.next.get(key, time.monotonic()) + 60.0 / float(per_minute) * units

    def stats(self) -> dict[str, float]:
        return {f"{k}:{m}": v for (k, m), v in self.granted.items()}


def _driver_node(ray: Any) -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)


def rate_limiter(eng: Engine) -> Any:
    """The cluster's rate-limiter actor (one per cluster namespace, created on first use on the
    driver's node, kept while the cluster runs): ``reserve(kind, model, units, per_minute)`` returns the seconds to wait.

    Example:
        >>> import llmops_nb as lo
        >>> import ray  # doctest: +SKIP
        >>> with lo.engine("ray") as eng:  # doctest: +SKIP
        ...     ray.get(rate_limiter(eng).reserve.remote("rpm", "m", 1, 60))
        0.0
    """
    ray = connect(eng)
    # detached: it outlives the driver that made it, so the runs of other notebooks on the same
    # cluster keep their pace when the first one ends
    actor = ray.remote(_Limiter).options(name=LIMITER_NAME, namespace=NAMESPACE, get_if_exists=True,
                                         max_concurrency=1, num_cpus=0, scheduling_strategy=_driver_node(ray),
                                         max_restarts=-1, lifetime="detached")
    return actor.remote()


class _Pace:
    def __init__(self, actor: Any, kind: str, model: str, per_minute: int) -> None:
        self.actor, self.kind, self.model, self.per_minute = actor, kind, model, per_minute

    async def acquire(self, units: float = 1.0) -> None:
        wait = await self.actor.reserve.remote(self.kind, self.model, units, self.per_minute)
        if wait > 0:
            await asyncio.sleep(wait)

    def adjust(self, units: float) -> None:
        self.actor.adjust.remote(self.kind, self.model, units, self.per_minute)


class SharedLimits:
    """The pacers a :class:`~llmops_nb.llm.Runner` on a Ray worker uses (its ``rate_limiter=``):
    every worker asks the one limiter actor before each call, so the cluster as a whole keeps
    each model's ``requests_per_minute`` and ``tokens_per_minute``.

    Example:
        >>> SharedLimits(actor=None).pacer("rpm", "m", 60).per_minute
        60
    """

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def pacer(self, kind: str, model: str, per_minute: int) -> _Pace:
        return _Pace(self.actor, kind, model, per_minute)


# ---------------------------------------------------------------- one budget for the cluster
class _BudgetKeeper:
    """The ``budget_usd`` of a distributed run, kept in one place with the local runner's rule: a
    call is let through only while the spend plus the expected cost of every call in flight
    (anywhere in the cluster) plus its own stays within the budget, and none once the spend has
    reached it. The expected cost of a call is the cluster's mean cost per paid call of its model
    (the worker's estimate from tokens and the price map until one has been paid).

    Each reservation is a lease held by one attempt of one task (``holder``). A worker that dies
    mid-call never settles its leases: the retry of its task calls :meth:`release` first, which
    counts each lease the dead attempt held as spent at its expected cost (its call may have
    reached the provider, which charges it; its answer was lost with the worker) and frees the
    reservation, so the run neither keeps the lost reservation forever (and spends less than its
    budget) nor forgets a call that may have been paid (and spends more)."""

    def __init__(self, budget_usd: float, spent_usd: float = 0.0) -> None:
        self.budget = float(budget_usd)
        self.spent = float(spent_usd)
        self.leases: dict[int, tuple[str, float]] = {}  # lease -> (holder, expected cost)
        self.next_lease = 0
        self.paid: dict[str, list[float]] = {}  # model -> [calls paid, their cost]
        self.calls = 0
        self.refused = 0
        self.lost = 0
        self.lost_usd = 0.0

    def _reserved(self) -> float:
        return float(sum(v for _, v in self.leases.values()))

    def reserve(self, model: str, estimate: float, holder: str = "") -> tuple[int | None, float]:
        n, cost = self.paid.get(model, [0, 0.0])
        expected = cost / n if n and cost > 0 else float(estimate)
        if self.spent >= self.budget or self.spent + self._reserved() + expected > self.budget + 1e-12:
            self.refused += 1
            return None, self.spent
        self.next_lease += 1
        self.leases[self.next_lease] = (holder, expected)
        return self.next_lease, self.spent

    def settle(self, model: str, lease: int, cost: float) -> None:
        self.leases.pop(lease, None)
        if cost:
            p = self.paid.setdefault(model, [0, 0.0])
            p[0] += 1
            p[1] += float(cost)
            self.spent += float(cost)
            self.calls += 1

    def release(self, holder: str) -> int:
        """Settle the leases of ``holder`` (a task attempt whose worker died) at their expected
        cost; returns how many there were."""
        lost = [k for k, (h, _) in self.leases.items() if h == holder]
        for k in lost:
            _, expected = self.leases.pop(k)
            self.spent += expected
            self.lost += 1
            self.lost_usd += expected
        return len(lost)

    def state(self) -> dict[str, float]:
        reserved = self._reserved()
        return {"budget_usd": self.budget, "spent_usd": self.spent, "reserved_usd": reserved,
                "remaining_usd": self.budget - self.spent - reserved, "paid_calls": self.calls,
                "refused": self.refused, "lost_calls": self.lost, "lost_usd": self.lost_usd,
                "leases": len(self.leases)}


def shared_budget(eng: Engine, budget_usd: float, spent_usd: float = 0.0) -> Any:
    """An actor keeping one ``budget_usd`` for a distributed run (one per run, on the driver's
    node; ``spent_usd`` already spent); workers reserve against it through :class:`SharedBudget`.

    Example:
        >>> import llmops_nb as lo
        >>> import ray  # doctest: +SKIP
        >>> with lo.engine("ray") as eng:  # doctest: +SKIP
        ...     ray.get(shared_budget(eng, 0.5).state.remote())["budget_usd"]
        0.5
    """
    ray = connect(eng)
    return ray.remote(_BudgetKeeper).options(max_concurrency=1, num_cpus=0,
                                             scheduling_strategy=_driver_node(ray)).remote(budget_usd, spent_usd)


class SharedBudget:
    """The ``shared_budget=`` of a :class:`~llmops_nb.llm.Runner` on a Ray worker: before each
    call it takes a lease on the call's expected cost from the run's one budget actor, and settles
    it with the actual cost after, so the workers together stop at the run's ``budget_usd``.
    ``holder`` names the task the runner works for (the same in each retry of the task):
    :meth:`start` releases what an earlier attempt of that task held when its worker died.

    Example:
        >>> SharedBudget(actor=None, holder="task 3").holder
        'task 3'
    """

    def __init__(self, actor: Any, holder: str = "") -> None:
        self.actor = actor
        self.holder = holder

    def start(self) -> int:
        """Before the task's first call: settle the leases a dead earlier attempt left (their
        count)."""
        import ray

        return int(ray.get(self.actor.release.remote(self.holder)))

    async def reserve(self, model: str, estimate: float) -> tuple[int | None, float]:
        lease, spent = await self.actor.reserve.remote(model, estimate, self.holder)
        return lease, spent

    async def settle(self, model: str, lease: int, cost: float) -> None:
        await self.actor.settle.remote(model, lease, cost)


# ---------------------------------------------------------------- the shared answer cache
class _CacheServer:
    """The answer cache of a distributed run: one SQLite file on the driver's machine (the
    store's ``cache/llm_cache.sqlite``), each answer committed before the worker goes on."""

    def __init__(self, path: str | None) -> None:
        self.cache = CallCache(path)

    def get(self, key: str) -> Any:
        return self.cache.get(key)

    def put(self, key: str, model: str, response: Any) -> None:
        self.cache.put(key, model, response)
        self.cache.flush()

    def count(self) -> int:
        return len(self.cache)

    def clear(self) -> None:
        self.cache.clear()


def shared_cache(eng: Engine, path: str | None) -> Any:
    """An actor serving the cache file at ``path`` (None: the user cache), on the driver's node;
    workers reach it through :class:`SharedCallCache`.

    Example:
        >>> import llmops_nb as lo
        >>> with lo.engine("ray") as eng:  # doctest: +SKIP
        ...     len(SharedCallCache(shared_cache(eng, "/tmp/c.sqlite"))) >= 0
        True
    """
    ray = connect(eng)
    return ray.remote(_CacheServer).options(max_concurrency=1, num_cpus=0, scheduling_strategy=_driver_node(ray),
                                            max_restarts=-1, max_task_retries=-1).remote(path)


class SharedCallCache(CallCache):
    """A :class:`~llmops_nb.llm.CallCache` on a Ray worker that reads and writes through the
    cache actor, so every worker (and the retry of a task whose worker died) sees each answer
    the moment it was paid for.

    Example:
        >>> issubclass(SharedCallCache, CallCache)
        True
    """

    def __init__(self, actor: Any) -> None:  # no local file: the actor holds it
        self.actor = actor
        self.path = None  # type: ignore[assignment]
        self.flush_every = 1

    def _ray(self) -> Any:
        import ray

        return ray

    def get(self, key: str) -> dict[str, Any] | None:
        return self._ray().get(self.actor.get.remote(key))

    def put(self, key: str, model: str, response: Any) -> None:
        self._ray().get(self.actor.put.remote(key, model, dict(response)))

    def flush(self) -> None:
        return None

    def _safe_flush(self) -> None:
        return None

    def __len__(self) -> int:
        return int(self._ray().get(self.actor.count.remote()))

    def clear(self) -> None:
        self._ray().get(self.actor.clear.remote())

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "SharedCallCache(<Ray actor>)"
