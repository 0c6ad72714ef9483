"""SNMP faults from real stacks: net-snmp's snmpd agent and snmpget.

- ``snmp.no_response``: snmpget with a community the agent does not know;
  SNMPv1 and v2c agents drop such a request without a word (RFC 3584 5.2.1,
  net-snmp logs it at most), so the manager times out after its retry.

The clean twin asks with the right community.  (An agent that is not there
at all draws ICMP port unreachable: that is icmp.unreachable's scenario, in
tests/lab/test_icmp.py.)  Expected evidence is tshark's selection of the
request frames.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab import (
    Network,
    Topology,
    assert_clean,
    assert_fires,
    diagnose,
    tshark_fields,
    two_hosts,
)
from tests.lab.conftest import require
from tests.lab.servers import snmpd, snmpget

pytestmark = pytest.mark.lab

@pytest.fixture
def agent(net: Network) -> Topology:
    require(tools=["snmpd", "snmpget"])
    t = two_hosts(net)
    snmpd(net, t.server)
    return t


@pytest.mark.parametrize("version", ["1", "2c"])
def test_no_response_wrong_community(net: Network, agent: Topology, tmp_path: Path, version: str) -> None:
    t = agent
    with net.capture(tmp_path / "wrong.pcap", t.client.ifaces[0]) as pcap:
        rc, out = snmpget(net, t.client, t.server.ip or "", version, "not-the-community", wait=0.5)
    assert rc != 0 and "Timeout" in out, out
    sent = tshark_fields(pcap, f"snmp.data == 0 && ip.dst == {t.server.ip}", "frame.number", "snmp.community",
                         "snmp.version")
    assert len(sent) == 2, sent  # the request and its one retry
    assert tshark_fields(pcap, f"ip.src == {t.server.ip}", "frame.number") == []  # not a word back
    assert_fires(diagnose(pcap), "snmp.no_response", [int(r[0]) for r in sent], exact=True, severity="error",
                 details={"server": t.server.ip, "server_port": 161, "communities": ["not-the-community"],
                          "clients": [t.client.ip], "versions": ["v1" if sent[0][2] == "0" else "v2c"]})


def test_no_response_clean_twin(net: Network, agent: Topology, tmp_path: Path) -> None:
    t = agent
    with net.capture(tmp_path / "right.pcap", t.client.ifaces[0]) as pcap:
        rc, out = snmpget(net, t.client, t.server.ip or "", "2c", "public", wait=0.5)
    assert rc == 0 and "tracedoc lab agent" in out, out
    assert_clean(diagnose(pcap))
