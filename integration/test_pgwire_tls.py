"""PG wire over TLS: `sslmode=require` and `verify-full` against a test CA with psycopg and
psql, a wrong CA refused by the client, `pg.tls.required`, and plaintext bytes sent with the
SSLRequest refused (CVE-2021-23214, RELIABILITY §3.2 P7)."""
import os
import socket
import struct
import subprocess

import psycopg
import pytest

import pgwire_probe as pg


def make_ca(directory, name):
    key, cert = directory / f"{name}-ca.key", directory / f"{name}-ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={name} test CA"], check=True, capture_output=True)
    return key, cert


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    ca_key, ca_cert = make_ca(directory, "sundial")
    _, other_ca = make_ca(directory, "other")
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    extensions = directory / "san.ext"
    extensions.write_text("subjectAltName=DNS:localhost\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
                    "-out", str(cert), "-days", "2", "-extfile", str(extensions)], check=True, capture_output=True)
    return {"ca": ca_cert, "other_ca": other_ca, "cert": cert, "key": key}


@pytest.fixture
def tls_node(make_node, certificates):
    return make_node(env={"QDB_PG_TLS_ENABLED": "true", "QDB_PG_TLS_CERT_PATH": str(certificates["cert"]),
                          "QDB_PG_TLS_PRIVATE_KEY_PATH": str(certificates["key"])})


def test_sslmode_require_and_verify_full(tls_node, certificates):
    with psycopg.connect(tls_node.pg_dsn + " sslmode=require", autocommit=True) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("select 1").fetchone() == (1,)
    dsn = f"host=localhost port={tls_node.pg_port} user=admin password=quest dbname=qdb sslmode=verify-full sslrootcert={certificates['ca']}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("select count(*) from long_sequence(100000)").fetchone() == (100000,)
    # Plaintext clients still work when TLS is optional (sslmode=prefer falls back only when refused).
    with psycopg.connect(tls_node.pg_dsn + " sslmode=disable", autocommit=True) as conn:
        assert not conn.pgconn.ssl_in_use


def test_a_client_trusting_another_ca_refuses_the_server(tls_node, certificates):
    dsn = f"host=localhost port={tls_node.pg_port} user=admin password=quest dbname=qdb sslmode=verify-full sslrootcert={certificates['other_ca']}"
    with pytest.raises(psycopg.OperationalError) as failure:
        psycopg.connect(dsn)
    assert "certificate verify failed" in str(failure.value)


def test_psql_over_tls(tls_node, certificates):
    env = {**os.environ, "PGPASSWORD": "quest", "PGSSLMODE": "verify-full", "PGSSLROOTCERT": str(certificates["ca"])}
    result = subprocess.run(["psql", "-X", "-h", "localhost", "-p", str(tls_node.pg_port), "-U", "admin", "-d", "qdb",
                             "-c", "\\conninfo", "-c", "select 40 + 2"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "SSL connection (protocol: TLSv1.3" in result.stdout and "42" in result.stdout


def test_plaintext_sent_with_the_ssl_request_is_refused(tls_node):
    sock = socket.create_connection(("127.0.0.1", tls_node.pg_port), timeout=5)
    sock.sendall(struct.pack("!ii", 8, 80877103) + pg.startup_packet())
    received = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    sock.close()
    assert received[:1] == b"E"
    fields = pg.fields(received[5:])
    assert (fields["S"], fields["C"], fields["M"]) == ("FATAL", "08P01", "received unencrypted data after SSL request")


def test_gss_request_before_ssl_request(tls_node):
    sock = socket.create_connection(("127.0.0.1", tls_node.pg_port), timeout=5)
    sock.sendall(struct.pack("!ii", 8, 80877104))
    assert sock.recv(1) == b"N"
    sock.sendall(struct.pack("!ii", 8, 80877103))
    assert sock.recv(1) == b"S"
    sock.close()


def test_tls_required_refuses_plaintext_clients(make_node, certificates):
    node = make_node(env={"QDB_PG_TLS_ENABLED": "true", "QDB_PG_TLS_REQUIRED": "true",
                          "QDB_PG_TLS_CERT_PATH": str(certificates["cert"]), "QDB_PG_TLS_PRIVATE_KEY_PATH": str(certificates["key"])})
    with pytest.raises(psycopg.OperationalError) as failure:
        psycopg.connect(node.pg_dsn + " sslmode=disable")
    assert "accepts only TLS connections" in str(failure.value)
    with psycopg.connect(node.pg_dsn + " sslmode=require", autocommit=True) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_a_missing_certificate_stops_startup_naming_the_key(make_node, tmp_path):
    from conftest import Node
    node = Node(tmp_path / "bad", env={"QDB_PG_TLS_ENABLED": "true", "QDB_PG_TLS_CERT_PATH": str(tmp_path / "none.pem"),
                                       "QDB_PG_TLS_PRIVATE_KEY_PATH": str(tmp_path / "none.key")})
    node.start()
    assert node.wait_exit() == 2
    assert "pg.tls.cert.path" in node.log()
