"""`config.db.prepared_row`: `%(name)s` statements, converted to `$n` once and prepared."""

from __future__ import annotations

import pytest

from config.db import _numbered, prepared_row


def test_a_named_statement_is_numbered_in_first_use_order_and_a_name_twice_is_one():
    raw, names = _numbered("SELECT %(b)s::int + %(a)s::int, %(b)s::int, '5%%'")
    assert raw == "SELECT $1::int + $2::int, $1::int, '5%'"
    assert names == ("b", "a")


@pytest.mark.parametrize("sql", ["SELECT %s", "SELECT %(a)b", "SELECT 5 % 2", "SELECT 1 %"])
def test_what_psycopg_would_refuse_is_refused(sql):
    with pytest.raises(ValueError, match="%\\(name\\)s parameters only"):
        _numbered(sql)


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_statement_longer_than_psycopgs_cache_runs_with_its_parameters():
    """The posting statement with an API answer is over 4 KB: psycopg itself would convert
    it on every call; here it is converted once and answers the same."""
    padding = " ".join(f"%(p{i})s::int AS c{i}," for i in range(300))
    sql = f"SELECT {padding} %(x)s::text || %(x)s::text AS doubled, '100%%' AS pct"
    assert len(sql) > 4096
    params = {f"p{i}": i for i in range(300)} | {"x": "ab"}
    row = prepared_row(sql, params)
    assert row[:3] == (0, 1, 2)
    assert row[299] == 299
    assert row[-2:] == ("abab", "100%")
    converted = _numbered.cache_info().hits
    assert prepared_row(sql, params | {"x": "c"})[-2] == "cc"  # prepared, run again
    assert _numbered.cache_info().hits == converted + 1  # not converted again
