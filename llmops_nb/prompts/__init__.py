"""Prompts as versioned code: immutable versions with messages, authors and tags; rollback is
moving a tag; prompts load from and save to plain YAML files so they can live in git.

Example:
    >>> import tempfile
    >>> from llmops_nb import prompts
    >>> st = tempfile.mkdtemp()
    >>> _ = prompts.save("qa", "Answer: {{ question }}", model="gpt-4o-mini", message="v1", store=st)
    >>> prompts.get("qa@1", store=st).render(question="2+2?")
    [{'role': 'user', 'content': 'Answer: 2+2?'}]
"""

from llmops_nb.prompts._prompts import (
    PROMPTS,
    Prompt,
    diff,
    from_file,
    get,
    history,
    list_prompts,
    parse_ref,
    save,
    sync_dir,
    tag,
    to_file,
)

list = list_prompts  # noqa: A001  (the public verb, as in the issue: prompts.list())

__all__ = [
    "Prompt",
    "PROMPTS",
    "save",
    "get",
    "history",
    "diff",
    "tag",
    "list",
    "list_prompts",
    "to_file",
    "from_file",
    "sync_dir",
    "parse_ref",
]
