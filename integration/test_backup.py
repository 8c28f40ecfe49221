"""Online backup (decision 0019): CHECKPOINT CREATE, a live copy of the data directory taken
with an ordinary tool (`cp -a`) while the node keeps writing, CHECKPOINT RELEASE, and the copy
restored by starting it with an empty `_restore` file in its root."""
import subprocess

import psycopg
import pytest


def rows(node, sql):
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def test_a_copy_taken_under_checkpoint_restores_exactly_the_checkpoint(make_node, tmp_path):
    node = make_node()
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        conn.execute("create table t (ts timestamp, k symbol, v long) timestamp(ts) partition by day")
        conn.execute("create table gone (ts timestamp, v long) timestamp(ts) partition by day")
        conn.execute("insert into t values ('2024-01-01T10:00:00Z', 'a', 1), ('2024-01-02T10:00:00Z', 'b', 2), ('2024-01-02T11:00:00Z', 'a', 3)")
        conn.execute("insert into gone values ('2024-01-01', 7)")
        conn.execute("checkpoint create")
        with pytest.raises(psycopg.Error, match="already in effect"):
            conn.execute("checkpoint create")
        # Everything the node may do to files meanwhile: appends, an out-of-order rewrite of an
        # older partition, a new partition and symbol, an UPDATE, a new table, a dropped table.
        conn.execute("insert into t values ('2024-01-02T12:00:00Z', 'c', 4)")
        conn.execute("insert into t values ('2024-01-01T09:00:00Z', 'a', 5)")
        conn.execute("insert into t values ('2024-01-03T10:00:00Z', 'd', 6)")
        conn.execute("update t set v = v * 100 where k = 'a'")
        conn.execute("create table later (ts timestamp, v long) timestamp(ts) partition by day")
        conn.execute("drop table gone")

    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(node.data_dir), str(copy)], check=True)
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        conn.execute("checkpoint release")
    assert not (node.data_dir / "checkpoint").exists()
    assert rows(node, "select count() from t") == [(6,)]

    (copy / "_restore").touch()
    restored = make_node(data_dir=copy)
    assert rows(restored, "select ts, k, v from t order by ts") == [
        (ts("2024-01-01T10:00:00"), "a", 1), (ts("2024-01-02T10:00:00"), "b", 2), (ts("2024-01-02T11:00:00"), "a", 3)]
    assert rows(restored, "select v from gone") == [(7,)]
    assert rows(restored, "select count() from tables() where table_name = 'later'") == [(0,)]
    assert not (copy / "_restore").exists() and not (copy / "checkpoint").exists()
    # The restored node is an ordinary node: it takes writes after the checkpoint's txn.
    with psycopg.connect(restored.pg_dsn, autocommit=True) as conn:
        conn.execute("insert into t values ('2024-01-04T10:00:00Z', 'e', 8)")
    assert rows(restored, "select k, v from t where ts >= '2024-01-03'") == [("e", 8)]
    # And the original lost nothing.
    assert rows(node, "select count() from t where k = 'a' and v >= 100") == [(3,)]


def test_restore_without_a_checkpoint_refuses_to_start(make_node, tmp_path):
    node = make_node()
    node.stop()
    (node.data_dir / "_restore").touch()
    node.start()
    assert node.process.wait(timeout=30) != 0
    assert "holds no checkpoint" in node.log()


def ts(text):
    import datetime
    return datetime.datetime.fromisoformat(text)
