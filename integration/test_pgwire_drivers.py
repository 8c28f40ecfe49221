"""Every case of integration/cases/pgwire.yaml through every mainstream PostgreSQL driver:
psycopg 3 (text and binary results), psycopg2, asyncpg, pg8000 and SQLAlchemy Core. Each
driver talks to a real node over a real socket; answers must match the case's rows or
SQLSTATE exactly.
"""
import asyncio
import datetime
import decimal
import pathlib
import re
import uuid

import asyncpg
import pg8000.dbapi
import psycopg
import psycopg2
import pytest
import sqlalchemy
import yaml

CASES = yaml.safe_load((pathlib.Path(__file__).parent / "cases" / "pgwire.yaml").read_text())


def normalise(value):
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None).isoformat(timespec="microseconds")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, list):
        return [normalise(item) for item in value]
    return value


def expected(value):
    return value if not isinstance(value, list) else [expected(item) for item in value]


def parameter(value):
    if isinstance(value, dict) and "timestamp" in value:
        return datetime.datetime.fromisoformat(value["timestamp"])
    return value


class Failed(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def percent_style(sql):
    return re.sub(r"\$\d+", "%s", sql)


class Psycopg:
    name = "psycopg"

    def __init__(self, node, binary=False):
        self.connection = psycopg.connect(node.pg_dsn, autocommit=True)
        self.binary = binary

    def run(self, sql, params=()):
        try:
            with self.connection.cursor(binary=self.binary) as cursor:
                cursor.execute(percent_style(sql), params or None)
                return [list(row) for row in cursor.fetchall()] if cursor.description else None
        except psycopg.Error as error:
            raise Failed(error.sqlstate) from error

    def close(self):
        self.connection.close()


class PsycopgBinary(Psycopg):
    name = "psycopg-binary"

    def __init__(self, node):
        super().__init__(node, binary=True)


class Psycopg2:
    name = "psycopg2"

    def __init__(self, node):
        self.connection = psycopg2.connect(node.pg_dsn)
        self.connection.autocommit = True

    def run(self, sql, params=()):
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(percent_style(sql), params or None)
                return [list(row) for row in cursor.fetchall()] if cursor.description else None
        except psycopg2.Error as error:
            raise Failed(error.pgcode) from error

    def close(self):
        self.connection.close()


class Asyncpg:
    name = "asyncpg"

    def __init__(self, node):
        self.loop = asyncio.new_event_loop()
        self.connection = self.loop.run_until_complete(
            asyncpg.connect(host="127.0.0.1", port=node.pg_port, user="admin", password="quest", database="qdb"))

    def run(self, sql, params=()):
        async def go():
            statement = await self.connection.prepare(sql)
            if not statement.get_attributes():
                await statement.fetch(*params)
                return None
            return [list(record.values()) for record in await statement.fetch(*params)]
        try:
            return self.loop.run_until_complete(go())
        except asyncpg.PostgresError as error:
            raise Failed(error.sqlstate) from error

    def close(self):
        self.loop.run_until_complete(self.connection.close())
        self.loop.close()


class Pg8000:
    name = "pg8000"

    def __init__(self, node):
        self.connection = pg8000.dbapi.connect("admin", host="127.0.0.1", port=node.pg_port, password="quest", database="qdb")
        self.connection.autocommit = True

    def run(self, sql, params=()):
        cursor = self.connection.cursor()
        try:
            cursor.execute(percent_style(sql), params or ())
            return [list(row) for row in cursor.fetchall()] if cursor.description else None
        except pg8000.dbapi.DatabaseError as error:
            raise Failed(error.args[0].get("C")) from error
        finally:
            cursor.close()

    def close(self):
        self.connection.close()


class SQLAlchemyCore:
    name = "sqlalchemy"

    def __init__(self, node):
        self.engine = sqlalchemy.create_engine(
            f"postgresql+psycopg2://admin:quest@127.0.0.1:{node.pg_port}/qdb", isolation_level="AUTOCOMMIT")
        self.connection = self.engine.connect()

    def run(self, sql, params=()):
        names = {}
        text = re.sub(r"\$(\d+)", lambda m: f":p{m.group(1)}", sql)
        for index, value in enumerate(params, 1):
            names[f"p{index}"] = value
        try:
            result = self.connection.execute(sqlalchemy.text(text), names)
            return [list(row) for row in result.fetchall()] if result.returns_rows else None
        except sqlalchemy.exc.DBAPIError as error:
            raise Failed(error.orig.pgcode) from error

    def close(self):
        self.connection.close()
        self.engine.dispose()


DRIVERS = [Psycopg, PsycopgBinary, Psycopg2, Asyncpg, Pg8000, SQLAlchemyCore]


@pytest.fixture(scope="module")
def pg_node(tmp_path_factory, request):
    from conftest import Node
    node = Node(tmp_path_factory.mktemp("pgwire") / "node")
    node.start()
    try:
        node.wait_healthy()
    except Exception:
        print(node.log())
        node.kill()
        raise
    yield node
    node.stop()


@pytest.mark.parametrize("driver", DRIVERS, ids=lambda d: d.name)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_case(pg_node, driver, case):
    client = driver(pg_node)
    table = re.sub(r"\W", "_", f"t_{driver.name}_{case['name']}")[:100]
    try:
        for sql in case.get("setup", []):
            client.run(sql.replace("{t}", table))
        params = [parameter(value) for value in case.get("params", [])]
        if "statement" in case:
            client.run(case["statement"].replace("{t}", table), params)
            params = []
        sql = case["query"].replace("{t}", table)
        if "error" in case:
            with pytest.raises(Failed) as failure:
                client.run(sql, params)
            assert failure.value.sqlstate == str(case["error"])
            assert client.run("select 1") == [[1]], "the connection must stay usable after an error"
            return
        rows = client.run(sql, params)
        if "row_count" in case:
            assert len(rows) == case["row_count"]
            assert [row[0] for row in rows] == list(range(1, case["row_count"] + 1))
        else:
            assert [normalise(row) for row in rows] == expected(case["rows"])
    finally:
        client.close()
