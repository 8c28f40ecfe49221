"""PG wire behaviour with real clients: psql scripted (`\\dt`, `\\d`, `\\l`, errors with their
position), transactions, server-side cursors, cancel and statement timeouts, every type
through asyncpg (binary) and psycopg, SCRAM-SHA-256, the read-only user, replica mode, and
the `questdb_pg_wire_*` metrics.
"""
import asyncio
import datetime
import os
import struct
import subprocess
import threading
import time
import uuid

import asyncpg
import pg8000.native
import psycopg

from conftest import free_ports
import pgwire_probe as pg
import pytest
import requests


@pytest.fixture
def node(make_node):
    return make_node()


def psql(node, *commands, password="quest", user="admin", extra_env=None):
    env = {**os.environ, "PGPASSWORD": password, **(extra_env or {})}
    args = ["psql", "-X", "-h", "127.0.0.1", "-p", str(node.pg_port), "-U", user, "-d", "qdb", "-v", "ON_ERROR_STOP=0"]
    for command in commands:
        args += ["-c", command]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)


def test_psql_meta_commands_describe_tables(node):
    result = psql(node, "create table trades (ts timestamp, sym symbol, price double, qty long) timestamp(ts) partition by day")
    assert result.returncode == 0 and "CREATE TABLE" in result.stdout, result.stderr
    listed = psql(node, "\\dt")
    assert listed.returncode == 0, listed.stderr
    assert "public | trades | table | admin" in listed.stdout
    described = psql(node, "\\d trades")
    assert described.returncode == 0, described.stderr
    lines = [line.split("|") for line in described.stdout.splitlines() if "|" in line]
    columns = {cells[0].strip(): cells[1].strip() for cells in lines[1:]}
    assert columns == {"ts": "timestamp without time zone", "sym": "character varying", "price": "double precision", "qty": "bigint"}
    databases = psql(node, "\\l")
    assert databases.returncode == 0 and "qdb" in databases.stdout and "UTF8" in databases.stdout, databases.stderr


def test_psql_reports_errors_with_position_and_sqlstate(node):
    result = psql(node, "\\set VERBOSITY verbose", "select nope from long_sequence(1)")
    assert "ERROR:  42703: Invalid column: nope" in result.stderr
    assert "LINE 1: select nope from long_sequence(1)" in result.stderr
    assert "               ^" in result.stderr  # under `nope`
    missing = psql(node, "select * from missing_table")
    assert 'table does not exist [table=missing_table]' in missing.stderr


def test_psql_multi_statement_query_and_copy_is_refused(node):
    result = psql(node, "select 1 as a; select 2 as b")
    assert result.returncode == 0
    assert "a" in result.stdout and "b" in result.stdout


def test_transactions_buffer_inserts_until_commit(node):
    with psycopg.connect(node.pg_dsn) as conn:  # not autocommit: psycopg opens a transaction
        conn.execute("create table tx (ts timestamp, v long) timestamp(ts) partition by day")
        conn.commit()
        conn.execute("insert into tx values ('2024-01-01', 1)")
        conn.execute("insert into tx values ('2024-01-02', 2)")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        with psycopg.connect(node.pg_dsn, autocommit=True) as other:
            assert other.execute("select count(*) from tx").fetchone() == (0,)
        conn.commit()
        assert conn.execute("select count(*) from tx").fetchone() == (2,)
        conn.execute("insert into tx values ('2024-01-03', 3)")
        conn.rollback()
        assert conn.execute("select sum(v) from tx").fetchone() == (3,)


def test_a_transaction_block_commits_every_table_together_or_nothing(node):
    with psycopg.connect(node.pg_dsn, autocommit=True) as admin:
        admin.execute("create table tx_a (ts timestamp, v long) timestamp(ts) partition by day")
        admin.execute("create table tx_b (ts timestamp, s symbol) timestamp(ts) partition by day")
    with psycopg.connect(node.pg_dsn) as conn, psycopg.connect(node.pg_dsn, autocommit=True) as other:
        conn.execute("insert into tx_a values ('2024-01-01', 1), ('2024-01-02', 2)")
        conn.execute("insert into tx_b values (%s, %s)", ["2024-01-01T00:00:00Z", "x"])
        # A bad value fails its INSERT at once (as in PostgreSQL), not the COMMIT later …
        with pytest.raises(psycopg.Error) as failure:
            conn.execute("insert into tx_a values ('2024-01-03', 'not a number')")
        assert failure.value.sqlstate.startswith("22"), failure.value.sqlstate
        conn.commit()  # … and the failed block's COMMIT rolls back every table's rows.
        assert other.execute("select count(*) from tx_a").fetchone() == (0,)
        assert other.execute("select count(*) from tx_b").fetchone() == (0,)
        conn.execute("insert into tx_a values ('2024-01-01', 1), ('2024-01-02', 2)")
        conn.execute("insert into tx_b values ('2024-01-01', 'x')")
        assert other.execute("select count(*) from tx_a").fetchone() == (0,)
        conn.commit()
        assert other.execute("select count(*) from tx_a").fetchone() == (2,)
        assert other.execute("select s from tx_b").fetchall() == [("x",)]


def test_updates_in_a_transaction_block_wait_for_commit_and_rollback_drops_them(node):
    with psycopg.connect(node.pg_dsn, autocommit=True) as admin:
        admin.execute("create table txu (ts timestamp, k symbol, v long) timestamp(ts) partition by day")
        admin.execute("insert into txu values ('2024-01-01', 'a', 1), ('2024-01-02', 'b', 2), ('2024-01-03', 'a', 3)")
    with psycopg.connect(node.pg_dsn) as conn, psycopg.connect(node.pg_dsn, autocommit=True) as other:
        # The count is what PostgreSQL would report; the rows change only at COMMIT.
        cursor = conn.execute("update txu set v = v * 10 where k = %s", ["a"])
        assert cursor.rowcount == 2
        assert other.execute("select v from txu order by ts").fetchall() == [(1,), (2,), (3,)]
        conn.rollback()
        assert other.execute("select v from txu order by ts").fetchall() == [(1,), (2,), (3,)]

        # In statement order: the row INSERTed before the UPDATE is updated, the one after not.
        conn.execute("insert into txu values ('2024-01-04', 'a', 4)")
        assert conn.execute("update txu set v = v + 100 where k = 'a'").rowcount == 2  # committed rows only
        conn.execute("insert into txu values ('2024-01-05', 'a', 5)")
        assert other.execute("select count(*) from txu").fetchone() == (3,)
        conn.commit()
        assert other.execute("select v from txu order by ts").fetchall() == [(101,), (2,), (103,), (104,), (5,)]

        # A bad UPDATE fails at once and the block's other writes are dropped with it.
        conn.execute("insert into txu values ('2024-01-06', 'c', 6)")
        with pytest.raises(psycopg.errors.UndefinedColumn):
            conn.execute("update txu set nope = 1")
        conn.rollback()
        assert other.execute("select count(*) from txu").fetchone() == (5,)


def test_a_failed_transaction_refuses_statements_until_rollback(node):
    with psycopg.connect(node.pg_dsn) as conn:
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("select * from nope")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("select 1")
        conn.rollback()
        assert conn.execute("select 1").fetchone() == (1,)


def test_psycopg_server_side_cursor_fetches_in_batches(node):
    with psycopg.connect(node.pg_dsn) as conn:
        with conn.cursor(name="big") as cursor:
            cursor.itersize = 1000
            cursor.execute("select x, x * 2 as y from long_sequence(%s)", [25000])
            total = 0
            count = 0
            for x, y in cursor:
                assert y == 2 * x
                total += x
                count += 1
        assert count == 25000 and total == 25000 * 25001 // 2


def test_psycopg_executemany_and_binary_results(node):
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        conn.execute("create table em (ts timestamp, s symbol, v double) timestamp(ts) partition by day")
        rows = [(datetime.datetime(2024, 1, 1) + datetime.timedelta(seconds=i), f"s{i % 3}", i / 2) for i in range(200)]
        with conn.cursor() as cursor:
            cursor.executemany("insert into em values (%s, %s, %s)", rows)
        with conn.cursor(binary=True) as cursor:
            cursor.execute("select ts, s, v from em order by ts")
            assert cursor.fetchall() == rows
        # UPDATE with bind parameters: the row count comes back in the command tag.
        with conn.cursor() as cursor:
            cursor.execute("update em set v = %s * v where s = %s and ts >= %s", (-2.0, "s1", datetime.datetime(2024, 1, 1, 0, 1)))
            assert cursor.rowcount == len([r for r in rows if r[1] == "s1" and r[0] >= datetime.datetime(2024, 1, 1, 0, 1)])
            cursor.execute("select ts, s, v from em order by ts")
            assert cursor.fetchall() == [
                (ts, s, -2 * v if s == "s1" and ts >= datetime.datetime(2024, 1, 1, 0, 1) else v) for ts, s, v in rows]


def test_asyncpg_fetches_every_type_in_binary(node):
    async def go():
        conn = await asyncpg.connect(host="127.0.0.1", port=node.pg_port, user="admin", password="quest", database="qdb")
        try:
            await conn.execute(
                "create table types (b boolean, by byte, sh short, i int, l long, f float, d double, s string, v varchar, "
                "sy symbol, c char, u uuid, ip ipv4, l256 long256, g geohash(4c), dt date, bin binary, arr double[], "
                "ts timestamp) timestamp(ts) partition by day")
            await conn.execute(
                "insert into types values (true, 1, 2, 3, 4, 5.5, 6.25, 'str', 'vc', 'sym', 'z', "
                "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1', "
                "'0x01', 'u33d', '2024-02-03T04:05:06.789Z', null, '[1.5, 2.5]'::double[], '2024-02-03T04:05:06.123456Z')")
            await conn.execute("insert into types (ts) values ('2024-02-04')")
            statement = await conn.prepare("select * from types order by ts")
            types = {attribute.name: attribute.type.name for attribute in statement.get_attributes()}
            assert types == {
                "b": "bool", "by": "int2", "sh": "int2", "i": "int4", "l": "int8", "f": "float4", "d": "float8",
                "s": "varchar", "v": "varchar", "sy": "varchar", "c": "bpchar", "u": "uuid", "ip": "varchar",
                "l256": "varchar", "g": "varchar", "dt": "timestamp", "bin": "bytea", "arr": "float8[]", "ts": "timestamp"}
            full, empty = await statement.fetch()
            assert dict(full) == {
                "b": True, "by": 1, "sh": 2, "i": 3, "l": 4, "f": 5.5, "d": 6.25, "s": "str", "v": "vc", "sy": "sym",
                "c": "z", "u": uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "ip": "192.168.0.1",
                "l256": full["l256"], "g": "u33d", "dt": datetime.datetime(2024, 2, 3, 4, 5, 6, 789000), "bin": None,
                "arr": [1.5, 2.5], "ts": datetime.datetime(2024, 2, 3, 4, 5, 6, 123456)}
            assert full["l256"].startswith("0x") and int(full["l256"], 16) == 1
            assert dict(empty) == {
                "b": False, "by": 0, "sh": 0, "i": None, "l": None, "f": None, "d": None, "s": None, "v": None,
                "sy": None, "c": None, "u": None, "ip": None, "l256": None, "g": None, "dt": None, "bin": None,
                "arr": None, "ts": datetime.datetime(2024, 2, 4)}
            # Parameters typed by inference from their use, bound in binary.
            assert await conn.fetchval("select count(*) from types where ts >= $1 and d > $2 and sy = $3",
                                       datetime.datetime(2024, 1, 1), 1.0, "sym") == 1
            assert await conn.fetchval("select $1::double[]", [1.0, 2.0]) == [1.0, 2.0]
        finally:
            await conn.close()
    asyncio.run(go())


def test_cancel_request_stops_a_running_query(node):
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        timer = threading.Timer(0.5, conn.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("select count(*) from long_sequence(100000000000) where x % 7 = 3")
        assert time.monotonic() - started < 20
        assert conn.execute("select 1").fetchone() == (1,)


def test_query_activity_lists_running_statements_and_cancel_query_stops_one(node):
    slow = "select count(*) from long_sequence(100000000000) where x % 7 = 3"
    failures = []

    def run_slow():
        try:
            with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
                conn.execute(slow)
        except psycopg.Error as error:
            failures.append(error)

    worker = threading.Thread(target=run_slow)
    worker.start()
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 10
        running = []
        while not running and time.monotonic() < deadline:
            running = conn.execute("select query_id, username, state from query_activity() where query = %s", [slow]).fetchall()
        assert running and running[0][1:] == ("admin", "active"), running
        # Seen over REST too, with the same ids.
        listed = requests.get(f"{node.http_url}/exec", params={"query": "select query_id, query from query_activity()"}).json()
        assert [running[0][0], slow] in listed["dataset"]
        conn.execute(f"cancel query {running[0][0]}")
        worker.join(timeout=20)
        assert not worker.is_alive()
        assert len(failures) == 1 and isinstance(failures[0], psycopg.errors.QueryCanceled), failures
        assert conn.execute("select count() from query_activity() where query = %s", [slow]).fetchone() == (0,)
        with pytest.raises(psycopg.Error, match="not found in registry"):
            conn.execute(f"cancel query {running[0][0]}")


def test_statement_timeout_from_startup_options_and_set(node):
    with psycopg.connect(node.pg_dsn + " options='-c statement_timeout=300'", autocommit=True) as conn:
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("select count(*) from long_sequence(100000000000) where x % 7 = 3")
        conn.execute("set statement_timeout = 0")
        assert conn.execute("show statement_timeout").fetchone() == ("0",)
        assert conn.execute("select 1").fetchone() == (1,)


def test_set_show_reset_are_per_session(node):
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        conn.execute("set application_name = 'probe'")
        assert conn.execute("show application_name").fetchone() == ("probe",)
        assert conn.execute("show transaction isolation level").fetchone() == ("read committed",)
        assert conn.execute("select current_setting('standard_conforming_strings')").fetchone() == ("on",)
        conn.execute("reset all")
        assert conn.execute("show application_name").fetchone() == ("QuestDB",)
        with pytest.raises(psycopg.errors.UndefinedObject):
            conn.execute("show no_such_setting")


@pytest.fixture
def scram_node(make_node):
    return make_node(env={"QDB_PG_AUTH_METHOD": "scram-sha-256", "QDB_PG_PASSWORD": "s3cret",
                          "QDB_PG_READONLY_USER_ENABLED": "true", "QDB_PG_READONLY_PASSWORD": "ro-pass"})


def test_scram_sha_256_with_every_client(scram_node):
    dsn = f"host=127.0.0.1 port={scram_node.pg_port} user=admin password=s3cret dbname=qdb"
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    result = psql(scram_node, "select 42", password="s3cret")
    assert result.returncode == 0 and "42" in result.stdout, result.stderr

    async def go():
        conn = await asyncpg.connect(host="127.0.0.1", port=scram_node.pg_port, user="admin", password="s3cret", database="qdb")
        value = await conn.fetchval("select 7")
        await conn.close()
        return value
    assert asyncio.run(go()) == 7
    conn = pg8000.native.Connection("admin", host="127.0.0.1", port=scram_node.pg_port, password="s3cret", database="qdb")
    assert conn.run("select 8") == [[8]]
    conn.close()


def test_scram_wrong_password_fails_with_28p01(scram_node):
    with pytest.raises(psycopg.OperationalError) as failure:
        psycopg.connect(f"host=127.0.0.1 port={scram_node.pg_port} user=admin password=nope dbname=qdb")
    assert 'password authentication failed for user "admin"' in str(failure.value)
    result = psql(scram_node, "select 1", password="nope")
    assert result.returncode != 0 and "password authentication failed" in result.stderr


def test_read_only_user_reads_but_cannot_write(scram_node):
    admin = f"host=127.0.0.1 port={scram_node.pg_port} user=admin password=s3cret dbname=qdb"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("create table ro (ts timestamp, v long) timestamp(ts) partition by day")
        conn.execute("insert into ro values ('2024-01-01', 1)")
    reader = f"host=127.0.0.1 port={scram_node.pg_port} user=user password=ro-pass dbname=qdb"
    with psycopg.connect(reader, autocommit=True) as conn:
        assert conn.info.parameter_status("default_transaction_read_only") == "on"
        assert conn.execute("select v from ro").fetchall() == [(1,)]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as failure:
            conn.execute("insert into ro values ('2024-01-02', 2)")
        assert str(failure.value).startswith("cannot execute INSERT in a read-only transaction")


def test_replica_refuses_every_write_with_25006_and_says_so(make_node):
    # A replica whose primary is not there: it keeps reconnecting and serves reads meanwhile.
    replication, absent = free_ports(2)
    node = make_node(env={"QDB_REPLICATION_ROLE": "replica", "QDB_REPLICATION_TLS_ENABLED": "false",
                          "QDB_REPLICATION_BIND_TO": f"127.0.0.1:{replication}",
                          "QDB_REPLICATION_PRIMARY": f"127.0.0.1:{absent}"})
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        assert conn.info.parameter_status("in_hot_standby") == "on"
        assert conn.info.parameter_status("default_transaction_read_only") == "on"
        assert conn.execute("show default_transaction_read_only").fetchone() == ("on",)
        assert conn.execute("select pg_is_in_recovery()").fetchone() == (True,)
        for sql, verb in [("create table r (ts timestamp) timestamp(ts)", "CREATE TABLE"),
                          ("insert into r values (now())", "INSERT"), ("drop table r", "DROP TABLE"),
                          ("alter table r add column x int", "ALTER TABLE"), ("truncate table r", "TRUNCATE"),
                          ("update r set x = 1", "UPDATE")]:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as failure:
                conn.execute(sql)
            assert str(failure.value) == f"cannot execute {verb} in a read-only transaction"
        assert conn.execute("select count(*) from long_sequence(10)").fetchone() == (10,)
        # Node-local maintenance writes no WAL record: a replica backs itself up (decision 0019).
        conn.execute("checkpoint create")
        assert (node.data_dir / "checkpoint" / "manifest").exists()
        conn.execute("checkpoint release")
    response = requests.get(f"{node.http_url}/exec", params={"query": "create table r (ts timestamp)"})
    assert response.status_code == 421 and response.headers["X-QuestDB-Role"] == "REPLICA"


def test_primary_reports_it_is_not_a_standby(node):
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        assert conn.info.parameter_status("in_hot_standby") == "off"
        assert conn.info.parameter_status("server_version") == "11.3"
        assert conn.info.parameter_status("TimeZone") == "GMT"


def test_pg_wire_metrics(node):
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        conn.execute("select 1")
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("select * from nope")
        text = requests.get(f"{node.health_url}/metrics").text
        assert "questdb_pg_wire_connections 1" in text
        assert 'questdb_pg_wire_errors_total{class="42"}' in text
        assert "questdb_pg_wire_queries_total" in text


def test_psycopg_type_loading_and_sqlalchemy_reflection(node):
    from psycopg.types import TypeInfo
    import sqlalchemy
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        conn.execute("create table refl (ts timestamp, s symbol, v double) timestamp(ts) partition by day")
        info = TypeInfo.fetch(conn, "float8")
        assert (info.name, info.oid, info.array_oid) == ("float8", 701, 1022)
        assert TypeInfo.fetch(conn, "hstore") is None
    engine = sqlalchemy.create_engine(f"postgresql+psycopg2://admin:quest@127.0.0.1:{node.pg_port}/qdb")
    try:
        inspector = sqlalchemy.inspect(engine)
        assert inspector.get_table_names() == ["refl"]
        assert inspector.has_table("refl") and not inspector.has_table("nope")
        columns = inspector.get_columns("refl")
        assert [(c["name"], type(c["type"]).__name__, c["nullable"]) for c in columns] == [
            ("ts", "TIMESTAMP", True), ("s", "VARCHAR", True), ("v", "DOUBLE_PRECISION", True)]
        assert inspector.get_pk_constraint("refl")["constrained_columns"] == []
        assert inspector.get_foreign_keys("refl") == [] and inspector.get_indexes("refl") == []
        assert inspector.get_table_comment("refl") == {"text": None}
        # Full table reflection, as ORMs and pandas' read_sql_table do it.
        table = sqlalchemy.Table("refl", sqlalchemy.MetaData(), autoload_with=engine)
        assert [column.name for column in table.columns] == ["ts", "s", "v"]
        with pytest.raises(sqlalchemy.exc.NoSuchTableError):
            sqlalchemy.Table("nope", sqlalchemy.MetaData(), autoload_with=engine)
    finally:
        engine.dispose()


def test_wide_decimals_travel_exactly_over_pg_wire(node):
    """DECIMAL(38, 10) and DECIMAL(76, 0) over PG wire: psycopg's text parameters and results,
    its binary results, asyncpg's binary parameters and results — every digit, both ways."""
    from decimal import Decimal, getcontext
    getcontext().prec = 100
    a_values = [Decimal("1234567890123456789012345678.0123456789"), Decimal("-0.0000000001"), Decimal("0E-10")]
    b_values = [Decimal("9" * 76), Decimal("-" + "1" * 60), Decimal("123")]
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        conn.execute("create table ledger (ts timestamp, a decimal(38, 10), b decimal(76, 0)) timestamp(ts) partition by day")
        with conn.cursor() as cursor:
            cursor.executemany("insert into ledger (ts, a, b) values (%s, %s, %s)",
                               [(datetime.datetime(2024, 1, 1, 0, i), a, b) for i, (a, b) in enumerate(zip(a_values, b_values))])
        assert conn.execute("select a, b from ledger order by ts").fetchall() == list(zip(a_values, b_values))
        assert conn.execute("select sum(a), max(b), a * 2 from ledger where b = %s", (Decimal("123"),)).fetchone() == (
            Decimal("0E-10"), Decimal("123"), Decimal("0E-10"))
        assert conn.execute("select count() from ledger where a > %s", (Decimal("-0.00000000005"),)).fetchone() == (2,)
        # A numeric parameter is the DECIMAL its digits make, so arithmetic with it stays exact.
        assert conn.execute("select %s * 2, b + %s from ledger where b = 123", (Decimal("1.5"), Decimal("0.25"))).fetchone() == (
            Decimal("3.0"), Decimal("123.25"))
        with conn.cursor(binary=True) as cursor:
            cursor.execute("select a, b from ledger order by ts")
            assert cursor.fetchall() == list(zip(a_values, b_values))

    async def binary():
        conn = await asyncpg.connect(host="127.0.0.1", port=node.pg_port, user="admin", password="quest", database="qdb")
        try:
            await conn.execute("insert into ledger (ts, a, b) values ($1, $2, $3)",
                               datetime.datetime(2024, 1, 2), Decimal("-98765432109876543210.9876543210"), Decimal("7" * 40))
            statement = await conn.prepare("select a, b from ledger order by ts")
            assert [a.type.name for a in statement.get_attributes()] == ["numeric", "numeric"]
            rows = await statement.fetch()
            assert [(row["a"], row["b"]) for row in rows] == list(zip(a_values, b_values)) + [
                (Decimal("-98765432109876543210.9876543210"), Decimal("7" * 40))]
        finally:
            await conn.close()
    asyncio.run(binary())


def test_decimals_travel_exactly_over_every_protocol(node):
    """DECIMAL as PostgreSQL's numeric: text for psycopg, base-10000 binary for asyncpg, bind
    parameters in; a JSON number over /exec; ILP integer and double fields into it."""
    from decimal import Decimal
    values = [Decimal("0.01"), Decimal("-1234567.89"), Decimal("100.00"), Decimal("0.00"), Decimal("99999999.99"), Decimal("-0.05")]
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        conn.execute("create table money (ts timestamp, amount decimal(10, 2), rate decimal(18, 9)) timestamp(ts) partition by day")
        with conn.cursor() as cursor:
            cursor.executemany("insert into money (ts, amount, rate) values (%s, %s, %s)",
                               [(datetime.datetime(2024, 1, 1, 0, i), v, Decimal("0.000000123") * i) for i, v in enumerate(values)])
        assert conn.execute("select amount from money order by ts").fetchall() == [(v,) for v in values]
        assert conn.execute("select sum(amount) from money").fetchone() == (sum(values),)
        assert conn.execute("select amount from money where amount = %s", (Decimal("100.00"),)).fetchall() == [(Decimal("100.00"),)]
        with conn.cursor(binary=True) as cursor:
            cursor.execute("select amount, rate from money order by ts")
            assert [row[0] for row in cursor.fetchall()] == values

    async def binary():
        conn = await asyncpg.connect(host="127.0.0.1", port=node.pg_port, user="admin", password="quest", database="qdb")
        try:
            statement = await conn.prepare("select amount, rate from money order by ts")
            assert [a.type.name for a in statement.get_attributes()] == ["numeric", "numeric"]
            rows = await statement.fetch()
            assert [row["amount"] for row in rows] == values
            assert [row["rate"] for row in rows] == [Decimal("0.000000123") * i for i in range(len(values))]
        finally:
            await conn.close()
    asyncio.run(binary())

    body = requests.get(f"{node.http_url}/exec", params={"query": "select amount from money order by ts limit 2"}).text
    assert '"type":"DECIMAL(10,2)"' in body and '"dataset":[["0.01"],["-1234567.89"]]' in body
    from questdb import Sender, TimestampNanos
    with Sender.from_conf(f"http::addr=127.0.0.1:{node.http_port};") as sender:
        sender.row("money", columns={"amount": 12.345, "rate": 3}, at=TimestampNanos(1_704_153_600_000_000_000))
    with psycopg.connect(node.pg_dsn, autocommit=True) as conn:
        # ILP's 204 means durable; the row is visible once applied, a moment later.
        deadline = time.monotonic() + 10
        while (row := conn.execute("select amount, rate from money where ts = '2024-01-02'").fetchone()) is None:
            assert time.monotonic() < deadline, "the ILP row never became visible"
            time.sleep(0.02)
        assert row == (Decimal("12.35"), Decimal("3.000000000"))


def row_description(body):
    """(name, type OID, format) of each column of a RowDescription body."""
    count = struct.unpack_from("!h", body, 0)[0]
    offset, columns = 2, []
    for _ in range(count):
        end = body.index(b"\0", offset)
        name = body[offset:end].decode()
        table_oid, attnum, oid, size, modifier, fmt = struct.unpack_from("!ihihih", body, end + 1)
        columns.append((name, oid, fmt))
        offset = end + 1 + 18
    return columns


def test_describe_follows_schema_changes_and_formats(node):
    """The same statement text described again after ALTER TABLE shows the new column, and a
    portal bound with binary results is described with binary formats (a connection reuses
    its last encoded RowDescription only while columns and formats match)."""
    probe = pg.Probe(node.pg_port)
    probe.login()
    probe.send(pg.query("create table described (a long, ts timestamp) timestamp(ts) partition by day"))
    probe.until_ready()
    describe = pg.parse("select * from described") + pg.describe("S") + pg.SYNC
    probe.send(describe)
    first = [row_description(body) for kind, body in probe.until_ready() if kind == "T"]
    probe.send(describe)
    again = [row_description(body) for kind, body in probe.until_ready() if kind == "T"]
    assert first == again == [[("a", 20, 0), ("ts", 1114, 0)]]
    probe.send(pg.query("alter table described add column b double"))
    assert "E" not in pg.kinds(probe.until_ready())
    probe.send(describe)
    changed = [row_description(body) for kind, body in probe.until_ready() if kind == "T"]
    assert changed == [[("a", 20, 0), ("ts", 1114, 0), ("b", 701, 0)]]
    probe.send(pg.parse("select * from described") + pg.bind(result_formats=[1]) + pg.describe("P") + pg.SYNC)
    binary = [row_description(body) for kind, body in probe.until_ready() if kind == "T"]
    assert binary == [[("a", 20, 1), ("ts", 1114, 1), ("b", 701, 1)]]
    probe.close()
