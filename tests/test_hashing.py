"""The stable hashes decide stored things (dataset splits and samples, alignment splits, queue
order, monitor sampling): these values were computed by the code each use had before the hashes
moved into ``llmops_nb.hashing``, and must never change."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from llmops_nb.hashing import ALGORITHMS, hash64, uniform

VALUES = ["t-001", "trace_42", "é中"]


def test_dataset_split_and_sample_hashes_are_pinned():
    assert [float(x).hex() for x in uniform(VALUES, salt="sample:0:", algorithm="sha256")] == [
        "0x1.4364dfe8b1b54p-1", "0x1.0dfcd137ae05cp-4", "0x1.3669d2c4440fbp-2"]
    assert [float(x).hex() for x in uniform(VALUES)] == [
        "0x1.122f40d91670bp-1", "0x1.c4bc72e38a57ep-1", "0x1.fb02019b901bap-3"]


def test_the_old_dataset_name_warns_and_gives_the_same_numbers():
    from llmops_nb.datasets import stable_hash

    with pytest.warns(DeprecationWarning, match="llmops_nb.hashing.uniform"):
        old = stable_hash(VALUES, salt="sample:0:")
    assert np.array_equal(old, uniform(VALUES, salt="sample:0:"))


def test_queue_order_hashes_are_pinned():
    assert hash64(VALUES, salt="0", algorithm="blake2b-keyed").tolist() == [
        3117086803806645394, 3096817847601815382, 17215716487830068973]
    assert hash64(VALUES, salt="alice", algorithm="blake2b-keyed").tolist() == [
        9529420178884415915, 1298983333600078094, 12684624454351292652]
    import pandas as pd

    from llmops_nb.annotation._queue import order_items

    order = order_items(pd.DataFrame({"item_id": VALUES}), "random", seed=0)
    assert order == ["trace_42", "t-001", "é中"]  # ascending hash64 above


def test_alignment_splits_monitor_sampling_and_the_simulated_judge_are_pinned():
    from llmops_nb.annotation import split_items
    from llmops_nb.demo._judge import _unit
    from llmops_nb.monitor import sample_rate

    assert split_items(VALUES).tolist() == ["dev", "dev", "train"]
    assert [sample_rate(v, "m").hex() for v in VALUES] == [
        "0x1.b78be1cc8295dp-1", "0x1.db95f41a7a541p-2", "0x1.f24720c3205edp-5"]
    assert _unit("a", 1, "b").hex() == "0x1.8b23afe880f32p-1"


def test_an_unknown_algorithm_names_the_valid_ones():
    with pytest.raises(ValueError, match="blake2b-keyed"):
        hash64(["a"], algorithm="md5")
    assert list(ALGORITHMS) == ["sha256", "blake2b", "blake2b-keyed"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        uniform([])  # no values, no warning
