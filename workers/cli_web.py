"""``checkctl serve``: the HTTP API and the operations console on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    as_json: Annotated[bool, typer.Option("--json", help="Print the URL as JSON.")] = False,
) -> None:
    """Serve the HTTP API (/v1, /openapi.json), the console (/console/) and /metrics.

    With the embedded broker (stub://) a worker runs in this process while it serves.
    """
    import json

    import uvicorn

    from web import create_app
    from workers.cli import _runtime, err

    if not 0 <= port <= 65535:
        from checks.errors import Problem
        from workers.cli import _invalid

        _invalid([Problem("--port", "must be 0-65535")], as_json)
    rt = _runtime()
    app = create_app(rt)
    url = f"http://{host}:{port}"
    if as_json:
        print(json.dumps({"url": url, "console": url + "/console/"}), flush=True)
    else:
        err.print(f"serving {url} (console {url}/console/); Ctrl-C to stop", highlight=False)
    # access_log off: the app logs each request itself, with its id and without query strings.
    uvicorn.run(app, host=host, port=port, access_log=False, log_config=None)
