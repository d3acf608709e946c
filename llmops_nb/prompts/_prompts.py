"""Prompts as versioned code: templates with variables, a model and parameters, immutable
versions with messages, authors and tags, kept in the store and in plain files."""

from __future__ import annotations

import datetime as _dt
import difflib
import hashlib
import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from llmops_nb.schema import Column, Table
from llmops_nb.store import Store, as_store

__all__ = [
    "Prompt",
    "PROMPTS",
    "save",
    "get",
    "history",
    "diff",
    "tag",
    "list_prompts",
    "to_file",
    "from_file",
    "sync_dir",
    "parse_ref",
]

PROMPTS = Table(
    "prompts",
    "one row per prompt version (immutable)",
    (
        Column("name", "str", "Prompt name.", True),
        Column("version", "int", "Version number, from 1, never reused.", True),
        Column("messages", "json", "The template: a list of {role, content} with {{ variable }} placeholders.", True),
        Column("model", "str", "Default model (a litellm model name)."),
        Column("params", "json", "Default model parameters (temperature, max_tokens, ...)."),
        Column("variables", "strings", "Variables the template uses."),
        Column("message", "str", "Why this version was made."),
        Column("author", "str", "Who made it."),
        Column("content_hash", "str", "Hash of messages, model and params."),
        Column("created_at", "time", "When it was saved, UTC.", True),
    ),
)
"""The prompts table: one row per prompt version."""

_TAGS_KEY = "prompt_tags"


def _env() -> Any:
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def _variables(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    import jinja2.meta

    env = _env()
    names: list[str] = []
    for m in messages:
        for v in sorted(jinja2.meta.find_undeclared_variables(env.parse(str(m.get("content") or "")))):
            if v not in names:
                names.append(v)
    return names


def _normalise_messages(template: str | Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    if isinstance(template, str):
        return [{"role": "user", "content": template}]
    out = []
    for i, m in enumerate(template):
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise ValueError(f"template message {i} is {m!r}; each message needs 'role' and 'content'")
        out.append({"role": str(m["role"]), "content": str(m["content"])})
    return out


def _hash(messages: Any, model: Any, params: Any) -> str:
    blob = orjson.dumps({"m": messages, "model": model, "p": params or {}}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class Prompt:
    """One immutable prompt version: chat messages with ``{{ variable }}`` placeholders, a
    default model and parameters.

    Example:
        >>> p = Prompt("support", [{"role": "system", "content": "Answer in {{ language }}."},
        ...                        {"role": "user", "content": "{{ question }}"}], model="gpt-4o-mini")
        >>> p.variables
        ['language', 'question']
        >>> p.render(language="French", question="Hi")[0]["content"]
        'Answer in French.'
    """

    name: str
    messages: list[dict[str, str]]
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    version: int | None = None
    message: str | None = None
    author: str | None = None
    created_at: _dt.datetime | None = None
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", _normalise_messages(self.messages))

    @property
    def variables(self) -> list[str]:
        return _variables(self.messages)

    @property
    def ref(self) -> str:
        """``name@version`` (or just the name for an unsaved prompt)."""
        return self.name if self.version is None else f"{self.name}@{self.version}"

    @property
    def content_hash(self) -> str:
        return _hash(self.messages, self.model, self.params)

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """The chat messages with the variables filled in; a missing variable is an error."""
        missing = [v for v in self.variables if v not in variables]
        if missing:
            raise KeyError(f"prompt {self.ref} needs variables {missing}; got {sorted(variables)}")
        env = _env()
        return [{"role": m["role"], "content": env.from_string(m["content"]).render(**variables)} for m in self.messages]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "messages": self.messages, "model": self.model,
            "params": dict(self.params), "message": self.message, "author": self.author,
            "created_at": None if self.created_at is None else self.created_at.isoformat(), "tags": list(self.tags),
        }

    def __repr__(self) -> str:
        return f"Prompt({self.ref!r}, model={self.model!r}, variables={self.variables}, tags={list(self.tags)})"

    def _repr_html_(self) -> str:
        msgs = "".join(
            f"<div style='margin:2px 0'><b>{html.escape(m['role'])}</b>: <pre style='display:inline;white-space:pre-wrap'>"
            f"{html.escape(m['content'])}</pre></div>" for m in self.messages
        )
        tags = ", ".join(html.escape(t) for t in self.tags) or "none"
        return (f"<div><b>Prompt {html.escape(self.ref)}</b> &middot; model {html.escape(str(self.model))} &middot; "
                f"params {html.escape(str(self.params))} &middot; tags {tags}<br>{msgs}</div>")


def parse_ref(ref: str) -> tuple[str, int | None, str | None]:
    """Split ``"name@3"`` or ``"name@production"`` into (name, version, tag).

    Example:
        >>> parse_ref("support@3"), parse_ref("support@production"), parse_ref("support")
        (('support', 3, None), ('support', None, 'production'), ('support', None, None))
    """
    name, _, at = ref.partition("@")
    if not at:
        return name, None, None
    return (name, int(at), None) if at.isdigit() else (name, None, at)


def _store(store: Store | str | os.PathLike[str] | None) -> Store:
    st = as_store(store)
    st.register("prompts", PROMPTS, key=["name", "version"], sort_by="created_at")
    return st


def _tags(st: Store) -> dict[str, dict[str, int]]:
    return st.get_state(_TAGS_KEY, {}) or {}


def _rows(st: Store, name: str | None = None) -> pd.DataFrame:
    df = st.read("prompts", "WHERE name = ?", [name]) if name else st.read("prompts")
    return df.sort_values(["name", "version"]).reset_index(drop=True)


def _from_row(row: Mapping[str, Any], tags: Mapping[str, int]) -> Prompt:
    v = int(row["version"])
    return Prompt(
        name=row["name"], messages=row["messages"], model=row["model"], params=row["params"] or {}, version=v,
        message=row["message"], author=row["author"],
        created_at=None if pd.isna(row["created_at"]) else pd.Timestamp(row["created_at"]).to_pydatetime(),
        tags=tuple(sorted(t for t, tv in tags.items() if tv == v)),
    )


def save(
    name: str | Prompt,
    template: str | Sequence[Mapping[str, Any]] | None = None,
    *,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    message: str = "",
    author: str | None = None,
    tags: Sequence[str] = (),
    store: Store | str | None = None,
) -> Prompt:
    """Save a new immutable version of a prompt; returns it with its version number. Saving
    content identical to the latest version returns that version (and moves ``tags`` to it).

    Example:
        >>> import tempfile
        >>> from llmops_nb import prompts
        >>> st = tempfile.mkdtemp()
        >>> p = prompts.save("greet", "Say hi to {{ name }}", model="gpt-4o-mini", message="first", store=st)
        >>> p.ref, prompts.save("greet", "Say hello to {{ name }}", message="warmer", store=st).ref
        ('greet@1', 'greet@2')
    """
    if isinstance(name, Prompt):
        p = name
        name, template, model, params = p.name, p.messages, p.model if model is None else model, p.params if params is None else params
        message = message or (p.message or "")
        author = author or p.author
    if template is None:
        raise ValueError("save() needs a template: a string or a list of {role, content} messages")
    if not name or "@" in name:
        raise ValueError(f"prompt name {name!r} is not valid; use a non-empty name without '@'")
    st = _store(store)
    messages = _normalise_messages(template)
    _variables(messages)  # a template syntax error fails here, before anything is written
    h = _hash(messages, model, dict(params or {}))
    existing = _rows(st, name)
    if len(existing) and existing.iloc[-1]["content_hash"] == h:
        version = int(existing.iloc[-1]["version"])
    else:
        version = int(existing["version"].max()) + 1 if len(existing) else 1
        row = {
            "name": name, "version": version, "messages": messages, "model": model, "params": dict(params or {}),
            "variables": _variables(messages), "message": message, "author": author or os.environ.get("USER"),
            "content_hash": h, "created_at": pd.Timestamp.now(tz="UTC"),
        }
        n = st.add("prompts", pd.DataFrame([row]))
        if n == 0:
            raise RuntimeError(f"prompt {name}@{version} was saved by someone else at the same time; save again")
    for t in tags:
        tag(name, version, t, store=st)
    return get(name, version=version, store=st)


def get(ref: str, version: int | None = None, tag: str | None = None, *, store: Store | str | None = None) -> Prompt:
    """A prompt version by ``"name"`` (latest), ``"name@3"``, ``"name@production"``, or
    ``version=`` / ``tag=``.

    Example:
        >>> import tempfile
        >>> st = tempfile.mkdtemp()
        >>> _ = save("greet", "Hello {name}", model="openai/gpt-4o-mini", store=st)
        >>> get("greet@1", store=st).version
        1
    """
    st = _store(store)
    name, v, t = parse_ref(ref)
    version = version if version is not None else v
    tag = tag if tag is not None else t
    rows = _rows(st, name)
    if not len(rows):
        known = sorted(set(_rows(st)["name"]))
        raise KeyError(f"no prompt named {name!r}; prompts in {st.path}: {known}")
    tags = _tags(st).get(name, {})
    if tag is not None:
        if tag not in tags:
            raise KeyError(f"prompt {name!r} has no tag {tag!r}; tags: {sorted(tags)}")
        version = tags[tag]
    if version is None:
        return _from_row(rows.iloc[-1], tags)
    sel = rows[rows["version"] == version]
    if not len(sel):
        raise KeyError(f"prompt {name!r} has no version {version}; versions: {rows['version'].tolist()}")
    return _from_row(sel.iloc[0], tags)


def history(name: str, *, store: Store | str | None = None) -> pd.DataFrame:
    """Every version of a prompt, one row per version: version, message, author, time, tags.

    Example:
        >>> import tempfile
        >>> st = tempfile.mkdtemp()
        >>> _ = save("greet", "Hello {name}", store=st); _ = save("greet", "Hi {name}", store=st)
        >>> history("greet", store=st)["version"].tolist()
        [1, 2]
    """
    st = _store(store)
    rows = _rows(st, name)
    tags = _tags(st).get(name, {})
    rows["tags"] = [sorted(t for t, v in tags.items() if v == ver) for ver in rows["version"]]
    return rows[["name", "version", "message", "author", "created_at", "model", "params", "tags", "content_hash"]]


def diff(name: str, a: int | str, b: int | str, *, store: Store | str | None = None) -> str:
    """A unified diff between two versions (or tags) of a prompt: messages, model and params.

    Example:
        >>> import tempfile
        >>> st = tempfile.mkdtemp()
        >>> _ = save("greet", "Hello {name}", store=st); _ = save("greet", "Hi {name}", store=st)
        >>> "+Hi {name}" in diff("greet", 1, 2, store=st)
        True
    """
    pa_ = get(name, **({"version": a} if isinstance(a, int) else {"tag": a}), store=store)
    pb_ = get(name, **({"version": b} if isinstance(b, int) else {"tag": b}), store=store)

    def text(p: Prompt) -> list[str]:
        lines = [f"model: {p.model}", f"params: {orjson.dumps(p.params, option=orjson.OPT_SORT_KEYS).decode()}"]
        for m in p.messages:
            lines.append(f"[{m['role']}]")
            lines.extend(m["content"].splitlines())
        return [x + "\n" for x in lines]

    return "".join(difflib.unified_diff(text(pa_), text(pb_), fromfile=pa_.ref, tofile=pb_.ref))


def tag(name: str, version: int, tag: str, *, store: Store | str | None = None) -> None:
    """Point ``tag`` (for example ``production``) at a version; moving it back is a rollback.

    Example:
        >>> import tempfile
        >>> st = tempfile.mkdtemp()
        >>> _ = save("greet", "Hello {name}", store=st)
        >>> tag("greet", 1, "production", store=st); get("greet@production", store=st).version
        1
    """
    st = _store(store)
    get(name, version=version, store=st)  # must exist
    if not tag or tag.isdigit():
        raise ValueError(f"tag {tag!r} is not valid; use a non-numeric name such as 'production'")
    st.update_state(_TAGS_KEY, lambda tags: {**(tags or {}), name: {**(tags or {}).get(name, {}), tag: int(version)}},
                    default={})


def list_prompts(*, store: Store | str | None = None) -> pd.DataFrame:
    """One row per prompt: name, latest version, its model and message, tags.

    Example:
        >>> import tempfile
        >>> st = tempfile.mkdtemp()
        >>> _ = save("greet", "Hello {name}", store=st)
        >>> list_prompts(store=st)["name"].tolist()
        ['greet']
    """
    st = _store(store)
    rows = _rows(st)
    if not len(rows):
        return pd.DataFrame(columns=["name", "latest_version", "model", "message", "tags"])
    tags = _tags(st)
    last = rows.groupby("name").tail(1)
    return pd.DataFrame({
        "name": last["name"].values,
        "latest_version": last["version"].values,
        "model": last["model"].values,
        "message": last["message"].values,
        "tags": [tags.get(n, {}) for n in last["name"]],
    })


def to_file(prompt: Prompt, path: str | os.PathLike[str]) -> Path:
    """Write a prompt as YAML, so it can live in git.

    Example:
        >>> import tempfile, os
        >>> p = save("greet", "Hello {name}", store=tempfile.mkdtemp())
        >>> to_file(p, os.path.join(tempfile.mkdtemp(), "greet.yaml")).suffix
        '.yaml'
    """
    import yaml

    d = {k: v for k, v in prompt.to_dict().items() if k in ("name", "model", "params", "messages", "message", "author")}
    out = Path(path)
    out.write_text(yaml.safe_dump(d, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def from_file(path: str | os.PathLike[str]) -> Prompt:
    """Read a prompt from YAML (or JSON) written by :func:`to_file` or by hand.

    Example:
        >>> import tempfile, os
        >>> p = save("greet", "Hello {name}", store=tempfile.mkdtemp())
        >>> from_file(to_file(p, os.path.join(tempfile.mkdtemp(), "greet.yaml"))).name
        'greet'
    """
    import yaml

    p = Path(path)
    try:
        d = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ValueError(f"{p}: not valid YAML ({e})") from None
    if not isinstance(d, Mapping) or "messages" not in d:
        raise ValueError(f"{p}: a prompt file needs 'messages' (a list of role/content) and optionally name, model, params")
    return Prompt(name=d.get("name") or p.stem, messages=d["messages"], model=d.get("model"), params=d.get("params") or {},
                  message=d.get("message"), author=d.get("author"))


def sync_dir(directory: str | os.PathLike[str], *, message: str = "synced from files", store: Store | str | None = None) -> list[Prompt]:
    """Save every ``*.yaml`` / ``*.yml`` prompt file in a folder (a new version only where it changed).

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> _ = to_file(save("greet", "Hello {name}", store=tempfile.mkdtemp()), os.path.join(d, "greet.yaml"))
        >>> [p.name for p in sync_dir(d, store=tempfile.mkdtemp())]
        ['greet']
    """
    out = []
    for f in sorted(Path(directory).glob("*.y*ml")):
        p = from_file(f)
        out.append(save(replace(p), message=p.message or message, store=store))
    return out
