"""The widgets' JavaScript and CSS, shipped inside the wheel as ``llmops_nb.widgets``.

The files are loaded by path at runtime (see ``llmops_nb.annotation._assets``); there is no
Python code here.
"""
