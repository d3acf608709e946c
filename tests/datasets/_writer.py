"""Child process for the reliability tests: saves versions of one dataset in a loop.

usage: python _writer.py ROOT NAME WHO N ROWS
Each version's rows all carry the writer and the round, and the message says the same, so a
mixed version is detectable. Prints "saving <i>" before and "saved <i> <version>" after each save,
and with a 6th argument "announce", "writing" when Delta Lake starts writing the data files.
"""

import sys

import pandas as pd

from llmops_nb import datasets as lds

root, name, who, n, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

if len(sys.argv) > 6 and sys.argv[6] == "announce":  # say when Delta Lake starts writing files
    import deltalake

    _real = deltalake.write_deltalake

    def _announced(*a, **k):
        print("writing", flush=True)
        return _real(*a, **k)

    deltalake.write_deltalake = _announced
for i in range(n):
    df = pd.DataFrame({
        "example_id": [f"e{j}" for j in range(rows)],
        "input_text": [f"{who}-{i} text {j} " + "x" * 50 for j in range(rows)],
        "writer": who,
        "round": i,
    })
    print(f"saving {i}", flush=True)
    v = lds.save(df, name, message=f"{who}-{i}", store=root, author=who)
    print(f"saved {i} {v.version}", flush=True)
