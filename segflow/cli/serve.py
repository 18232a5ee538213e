"""`segflow serve`: the merchant's console and the JSON API (SPEC §10)."""

from __future__ import annotations

import signal
from types import FrameType

import click

from segflow.cli.common import AppContext, json_option, pass_app, print_json
from segflow.errors import InvalidInput
from segflow.infra.config import Config


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@json_option
@pass_app
def serve(app: AppContext, host: str, port: int, as_json: bool) -> None:
    """Serve the console (web pages) and the JSON API until Ctrl-C.

    Sign in with a token from `segflow stores token STORE`; the API is at /api/v1 with the same
    token as a bearer token. With --json, `{"url": ...}` is printed on stdout once it listens."""
    serve_until_stopped(app.config, host, port, as_json)


def serve_until_stopped(config: Config, host: str, port: int, as_json: bool = False, token: str | None = None) -> None:
    import os
    import socket

    import uvicorn

    from segflow.web.app import create_app

    site = create_app(config)
    # Bound here, so the address printed is one that already answers (and port 0 picks one).
    try:
        listener = socket.create_server((host, port))
    except OSError as exc:  # the port taken, a host that is not this machine's
        # create_server's own message repeats the address; the errno's says just what is wrong.
        number = exc.errno or 0
        reason = os.strerror(number) if number > 0 else "the host is not an address of this machine"
        raise InvalidInput(f"cannot listen on {host}:{port}: {reason}") from None
    bound_port = listener.getsockname()[1]
    url = f"http://{host}:{bound_port}"
    click.echo(f"console at {url}/login, API at {url}/api/v1 (OpenAPI: /api/v1/openapi.json); Ctrl-C stops", err=True)
    if token is not None:
        click.echo(f"sign in with this access token: {token}", err=True)
    if as_json:
        print_json({"url": url, "login": f"{url}/login", "api": f"{url}/api/v1"})
    server = uvicorn.Server(uvicorn.Config(site, log_config=None, access_log=False, lifespan="on"))

    def terminate(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again for the
    # handler it found: this one, so both end here, as a normal stop.
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        listener.close()
    click.echo("console stopped", err=True)
