"""A minimal HTTP client for hearth's control API on its UNIX socket."""
import http.client
import os
import socket
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=20)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(self.unix_path)
        self.sock = s


def request(sock, method, path, body=None):
    """Sends one request (body: str, bytes or None); returns (status, body bytes)."""
    conn = UnixConnection(sock)
    headers = {}
    if body is not None:
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def wait_socket(sock, proc, tries=400):
    """Waits (bounded) until the server at sock answers; False if it never does."""
    for _ in range(tries):
        if proc.poll() is not None:
            return False
        if os.path.exists(sock):
            try:
                request(sock, "GET", "/version")
                return True
            except OSError:
                pass
        time.sleep(0.025)
    return False
