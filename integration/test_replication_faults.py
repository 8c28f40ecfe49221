"""The link between primary and replica misbehaves (RELIABILITY §3.5, §5.3): delay, 1-byte
slices, truncation, resets, flipped bits, replayed bytes, a blackhole. The replica never applies
a corrupt byte — its tables always equal a prefix of the primary's history and end equal — and
it always converges once the link is clean."""
import pytest
import requests

from cluster import Cluster, status, wait_caught_up, wait_for
from faultproxy import FaultProxy, Toxic
from test_replication import ingest, summary


@pytest.fixture
def linked(make_node, tmp_path):
    """A plain-TCP cluster (so that damage reaches Sundial's own checks rather than TLS's) and a
    fault proxy in front of the primary; the test starts the replica behind it."""
    cluster = Cluster(make_node, tmp_path, tls=False, env={"QDB_REPLICATION_KEEPALIVE_TIMEOUT": "1500"})
    primary = cluster.start_primary()
    proxy = FaultProxy(cluster.primary_port)
    yield cluster, primary, proxy
    proxy.close()


def metric(node, name):
    total = 0.0
    for line in requests.get(node.health_url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize("toxic", [
    Toxic.latency(30), Toxic.slice(), Toxic.truncate(after=3000), Toxic.reset(after=3000),
    Toxic.flip(after=2000), Toxic.flip(after=40), Toxic.replay(after=5000, amount=700),
], ids=["latency", "slice", "truncate", "reset", "flip-chunk", "flip-start", "replay"])
def test_the_replica_converges_through_a_faulty_link(linked, toxic):
    cluster, primary, proxy = linked
    ingest(primary, 0, 2000)
    # The replica's first two connections misbehave; the third is clean.
    proxy.set(toxic, connections=2)
    replica = cluster.start_replica(via_port=proxy.port)
    ingest(primary, 2000, 20_000, rows_per_request=500)
    wait_caught_up(primary, [replica], timeout=90)
    assert summary(replica) == summary(primary) == (22_000, 22_000, sum(range(22_000)), 0, 21_999)
    assert "suspended" not in replica.log()
    if toxic.kind == "flip":
        assert proxy.faults_applied >= 1
        # Damage was detected and counted, and never written (the data above is exact).
        assert metric(replica, "sundial_replication_corrupt_frames_total") >= 1


def test_a_blackholed_link_is_detected_by_keepalive_and_recovers(linked):
    cluster, primary, proxy = linked
    ingest(primary, 0, 1000)
    proxy.set(Toxic.blackhole(), connections=1)
    replica = cluster.start_replica(via_port=proxy.port)
    ingest(primary, 1000, 1000)
    # The blackholed connection times out (keepalive timeout) and the next one is clean.
    wait_caught_up(primary, [replica], timeout=60)
    assert summary(replica) == summary(primary)
    assert "timeout" in replica.log()
