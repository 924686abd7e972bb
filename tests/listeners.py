"""Listening sockets of processes, for the tests that require every port of the stack on loopback."""

from __future__ import annotations

import ipaddress

import psutil


def listening(*processes: psutil.Process) -> list[tuple[int, str, int]]:
    """(pid, ip, port) of each listening socket of `processes`."""
    return [
        (p.pid, c.laddr.ip, c.laddr.port)
        for p in processes
        for c in p.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]


def on_loopback(ip: str) -> bool:
    """Java listens on IPv6 sockets; 127.0.0.1 shows as ::ffff:127.0.0.1 there."""
    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback
