"""nginx on 127.0.0.1 with a generated config: an API server and a CDN server, two ports.

The CDN server can speak HTTPS, with a certificate from a throwaway CA (`throwaway_ca`); the
API server is always plain HTTP.

Everything nginx writes (pid, logs, temp paths) goes under its own work directory, so it needs
no root-owned path. It runs in the foreground (`daemon off`) as a child of the harness, which
stops it by its pid.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["Nginx", "Site", "TlsFiles", "free_port", "throwaway_ca"]

_CONFIG = """\
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 10000;
    keepalive_timeout 65;
    types {{ audio/mpeg mp3; video/mp4 mp4; image/jpeg jpeg jpg; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{api_port};
        location /api/v1/task/ {{ root {tasks}; default_type application/json; }}
    }}
    server {{
        listen 127.0.0.1:{cdn_port}{ssl};
        {certificate}
        root {cdn};
        {limit}
        location ~ ^/tiny/[^/]+\\.(mp3|mp4|jpeg)$ {{ try_files /tiny/clip.$1 /tiny/cover.$1 =404; }}
        location /big/ {{ root {extra}; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Site:
    """What one nginx serves: task JSON under `tasks`, media under `cdn` and `extra/big/`."""

    tasks: Path
    cdn: Path
    extra: Path
    limit_rate: str | None = None  # per connection, nginx syntax ("16m" = 16 MiB/s)
    tls: Path | None = None  # one PEM with the key and chain: the CDN server speaks HTTPS


@dataclass(frozen=True, slots=True)
class TlsFiles:
    server_pem: Path  # the key and certificate chain for 127.0.0.1, for nginx
    ca_pem: Path  # the CA certificate that the clients trust


def throwaway_ca(folder: Path) -> TlsFiles:
    """A new CA and a certificate it issued for 127.0.0.1, written under `folder`."""
    import trustme  # a test extra of the project, needed only for the HTTPS race

    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    files = TlsFiles(server_pem=folder / "server.pem", ca_pem=folder / "ca.pem")
    ca = trustme.CA()
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(files.server_pem)
    ca.cert_pem.write_to_path(files.ca_pem)
    for pem in (files.server_pem, files.ca_pem):
        pem.chmod(0o644)  # nginx's worker may run as another user; the key is a throwaway
    return files


class Nginx:
    def __init__(self, work: Path, site: Site) -> None:
        self.work = work
        self.site = site
        self.api_port = free_port()
        self.cdn_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def cdn_url(self) -> str:
        scheme = "https" if self.site.tls else "http"
        return f"{scheme}://127.0.0.1:{self.cdn_port}"

    @property
    def access_log(self) -> Path:
        return self.work / "access.log"

    def requests(self) -> int:
        """Requests served so far (lines of the access log, which nginx writes unbuffered)."""
        if not self.access_log.exists():
            return 0
        with open(self.access_log, "rb") as log:
            return sum(1 for _ in log)

    def __enter__(self) -> Nginx:
        self.work.mkdir(parents=True, exist_ok=True)
        config = self.work / "nginx.conf"
        config.write_text(self._config(), encoding="utf-8")
        error_log = self.work / "error.log"
        with open(self.work / "stderr.log", "wb") as stderr:
            self._process = subprocess.Popen(
                ["nginx", "-p", str(self.work), "-c", str(config), "-e", str(error_log)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            )
        self._wait_ready()
        return self

    def _config(self) -> str:
        site = self.site
        limit = f"limit_rate {site.limit_rate};" if site.limit_rate else ""
        # TLS 1.3 as well: nginx 1.22 (Debian 12) offers only up to 1.2 unless told
        certificate = (f"ssl_certificate {site.tls}; ssl_certificate_key {site.tls}; "
                       "ssl_protocols TLSv1.2 TLSv1.3;" if site.tls else "")
        return _CONFIG.format(
            work=self.work, api_port=self.api_port, cdn_port=self.cdn_port,
            ssl=" ssl" if site.tls else "", certificate=certificate,
            tasks=site.tasks, cdn=site.cdn, extra=site.extra, limit=limit,
        )

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self._errors()}")
            if all(_listening(port) for port in (self.api_port, self.cdn_port)):
                return
            time.sleep(0.05)
        raise RuntimeError(f"nginx did not start listening within 10 s: {self._errors()}")

    def _errors(self) -> str:
        texts = [(self.work / name).read_text(errors="replace")
                 for name in ("stderr.log", "error.log") if (self.work / name).exists()]
        return " ".join(" ".join(texts).split())[-1000:] or "no message"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
