"""Child process for the reliability tests: saves versions of one dataset in a loop.

usage: python _writer.py ROOT NAME WHO N ROWS
Each version's rows all carry the writer and the round, and the message says the same, so a
mixed version is detectable. Prints "saving <i>" before and "saved <i> <version>" after each save.
"""

import sys

import pandas as pd

from llmops_nb import datasets as lds

root, name, who, n, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
for i in range(n):
    df = pd.DataFrame({
        "example_id": [f"e{j}" for j in range(rows)],
        "input_text": [f"{who}-{i} text {j} " + "x" * 50 for j in range(rows)],
        "writer": who,
        "round": i,
    })
    print(f"saving {i}", flush=True)
    v = lds.save(df, name, message=f"{who}-{i}", storage=root, author=who)
    print(f"saved {i} {v.version}", flush=True)
