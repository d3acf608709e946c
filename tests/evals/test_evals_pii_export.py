"""PII before export: phone numbers of many regions (international and national forms, found by
``phonenumbers``), emails used as dict keys, URL-encoded emails, ``ssn 123-45-6789``."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.evals import find_pii

# (region, international form, national form): numbers written as people write them
PHONES = [
    ("FR", "+33 6 12 34 56 78", "06 12 34 56 78"),
    ("DE", "+49 151 23456789", "0151 23456789"),
    ("GB", "+44 20 7946 0958", "020 7946 0958"),
    ("US", "+1 415 555 0132", "(415) 555-0132"),
    ("ES", "+34 612 34 56 78", "612 34 56 78"),
    ("IT", "+39 312 345 6789", "312 345 6789"),
    ("JP", "+81 90-1234-5678", "090-1234-5678"),
    ("IN", "+91 98765 43210", "098765 43210"),
    ("BR", "+55 11 91234-5678", "(11) 91234-5678"),
    ("AU", "+61 412 345 678", "0412 345 678"),
    ("CN", "+86 138 0013 8000", "138 0013 8000"),
    ("ZA", "+27 82 123 4567", "082 123 4567"),
    ("KR", "+82 10-1234-5678", "010-1234-5678"),
    ("NL", "+31 6 12345678", "06 12345678"),
    ("CH", "+41 78 123 45 67", "078 123 45 67"),
]


@pytest.mark.parametrize("region,intl,national", PHONES, ids=[p[0] for p in PHONES])
def test_phone_numbers_of_many_regions(region, intl, national):
    for number in (intl, national, intl.replace("+", "00", 1)):
        text = f"Bitte rufen Sie mich unter {number} an, merci."
        found = [(m.kind, m.text) for m in find_pii(text)]
        assert found == [("phone", number)], (region, number, found)
        assert lo.evals.redact(text) == "Bitte rufen Sie mich unter [PHONE] an, merci."


def test_every_default_region_in_every_format():
    """The library's own example numbers of each default region, in its three formats."""
    import phonenumbers as pn
    from phonenumbers import PhoneNumberFormat as F
    from phonenumbers import PhoneNumberType as T

    from llmops_nb.pii import PHONE_REGIONS

    assert len(PHONE_REGIONS) >= 10
    checked = 0
    for region in PHONE_REGIONS:
        for typ in (T.MOBILE, T.FIXED_LINE):
            ex = pn.example_number_for_type(region, typ)
            if ex is None:
                continue
            for fmt in (F.INTERNATIONAL, F.NATIONAL, F.E164):
                s = pn.format_number(ex, fmt)
                got = [m.text for m in find_pii(f"call {s} now") if m.kind == "phone"]
                assert got == [s], (region, typ, fmt, s)
                checked += 1
    assert checked >= 100


@pytest.mark.parametrize("text", [
    "on 2024-01-15 at 10:30", "order 12345678", "version 1.2.3.4", "costs 1,234.56 EUR", "id 20240115103000",
    "ISBN 978-3-16-148410-0", "the years 1999 2000", "timestamp 1700000000", "row 1 2 3 4 5 6 7 8",
    "scores 0.91 0.87 0.93 0.88", "ref 2023/12/01", "sku 4006381333931", "we had 120 000 users",
])
def test_numbers_that_are_not_phones(text):
    assert [m for m in find_pii(text) if m.kind == "phone"] == []


def test_phone_regions_are_settable():
    assert find_pii("ring 0151 23456789", kinds=["phone"], phone_regions=["US"]) == []
    assert [m.text for m in find_pii("ring 0151 23456789", phone_regions=["DE"])] == ["0151 23456789"]
    # the international form needs no region
    assert [m.text for m in find_pii("ring +49 151 23456789", phone_regions=["US"])] == ["+49 151 23456789"]


def test_ssn_named_as_such():
    assert [(m.kind, m.text) for m in find_pii("ssn 123-45-6789")] == [("ssn", "123-45-6789")]
    assert [m.text for m in find_pii("Social Security number: 123456789")] == ["123456789"]
    assert [m.text for m in find_pii("SSN#078-05-1120")] == ["078-05-1120"]
    assert find_pii("the sample 123-45-6789 from the docs") == []  # unnamed sample numbers stay unreported
    assert find_pii("SSN 666-12-3456") == []  # never issued


def test_url_encoded_pii():
    text = "GET /unsubscribe?email=ann.lee%40corp.io&phone=%2B33%206%2012%2034%2056%2078 HTTP/1.1"
    found = [(m.kind, m.text) for m in find_pii(text)]
    assert found == [("email", "ann.lee%40corp.io"), ("phone", "%2B33%206%2012%2034%2056%2078")]
    assert lo.evals.redact(text) == "GET /unsubscribe?email=[EMAIL]&phone=[PHONE] HTTP/1.1"
    # the batch PII evaluator's pre-filter lets encoded text through
    res = lo.evals.PII().evaluate_batch(pd.DataFrame({"output_text": ["mail bob%40corp.io", "nothing here"]}))
    assert res[0].value is True and res[1] is False


def test_default_export_redacts_keys_encodings_and_phones(tmp_path):
    df = pd.DataFrame({
        "example_id": ["a", "b", "c"],
        "input_text": ["call me on +33 6 12 34 56 78", "my number is 0151 23456789", "q"],
        "metadata": [
            {"ann@corp.io": {"role": "owner"}, "note": "ok"},
            {"contacts": {"bob%40corp.io": "friend", "+44 20 7946 0958": "office"}},
            {"link": "https://x.io/?to=carl%40corp.io"},
        ],
        "expected_output": ["ok", "ok", "ssn 123-45-6789"],
    })
    for fmt in ("jsonl", "csv", "parquet"):
        out = tmp_path / f"x.{fmt}"
        report = lo.datasets.export(df, fmt, out, verbose=False)
        if fmt == "parquet":
            text = json.dumps(pd.read_parquet(out).astype(str).to_dict("records"))
        else:
            text = out.read_text()
        for secret in ("ann@corp.io", "bob%40corp.io", "bob@corp.io", "carl%40corp.io", "12 34 56 78",
                       "0151 23456789", "7946 0958", "123-45-6789"):
            assert secret not in text, (fmt, secret)
        spans = report.redaction.spans
        assert {"email", "phone", "ssn"} <= set(spans["kind"])
        assert {"<key>", "contacts.<key>"} <= set(spans["path"])  # keys were redacted and say so
    # the original frame is untouched and the other values survive
    assert "ann@corp.io" in df.loc[0, "metadata"]
    red = lo.datasets.redact(df).frame
    assert red.loc[0, "metadata"] == {"[EMAIL]": {"role": "owner"}, "note": "ok"}
    assert set(red.loc[1, "metadata"]["contacts"]) == {"[EMAIL]", "[PHONE]"}


def test_two_keys_redacted_alike_stay_distinct():
    df = pd.DataFrame({"example_id": ["a"], "metadata": [{"a@corp.io": 1, "b@corp.io": 2}]})
    red = lo.datasets.redact(df).frame.loc[0, "metadata"]
    assert sorted(red.values()) == [1, 2] and len(red) == 2 and "[EMAIL]" in red
