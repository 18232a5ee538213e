"""The worker's connection asks for a send buffer big enough to hold a group's writes."""

import socket
from pathlib import Path

from segflow.infra.database import WORKER_SEND_BUFFER, open_connection, widen_send_buffer


def send_buffer(conn) -> int:
    sock = socket.socket(fileno=conn.pgconn.socket)
    try:
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))
    finally:
        sock.detach()  # the fd stays psycopg's


def test_the_send_buffer_grows_as_far_as_the_kernel_allows(database_url):
    cap = int(Path("/proc/sys/net/core/wmem_max").read_text())
    conn = open_connection(database_url)
    try:
        widen_send_buffer(conn)
        # Linux reports twice what was granted (the rest is its bookkeeping).
        assert send_buffer(conn) >= 2 * min(WORKER_SEND_BUFFER, cap)
        assert (1,) == conn.execute("SELECT 1").fetchone()  # the connection is unharmed
    finally:
        conn.close()
