"""``tracedoc serve``: the workbench in a browser.

Binds 127.0.0.1 unless told otherwise.  On any other address a token is
required on every request: the one given with ``--token``, or one made up
now and printed (with the address to open, which sets it as a cookie).
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any non-loopback address requires a token.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--inventory", "inventory", type=click.Path(dir_okay=False), default=None, metavar="PATH",
              help="The inventory file (default: $TRACEDOC_INVENTORY, else the user's data directory).")
@click.option("--trace-dir", "trace_dirs", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False, dir_okay=True),
              help="A directory whose traces may be added by path; repeat for more.")
@click.option("--token", default=None, metavar="T",
              help="Require this token (Authorization: Bearer T, or open /?token=T once).")
@click.option("--max-upload-mb", "max_upload_mb", default=1024, show_default=True, type=click.IntRange(0, None),
              metavar="N", help="Largest upload in MiB (0: no uploads).")
def serve(host: str, port: int, inventory: str | None, trace_dirs: tuple[str, ...], token: str | None,
          max_upload_mb: int) -> None:
    """The workbench: inventory, views, plots and exports in a browser."""
    import uvicorn

    from tracedoc.web import security
    from tracedoc.web.app import WebConfig, build

    if token is not None and len(token) < 8:
        raise click.BadParameter("use at least 8 characters", param_hint="--token")
    need = security.token_for(host, token)
    config = WebConfig(host=host, port=port, inventory=inventory, trace_dirs=[Path(d) for d in trace_dirs],
                       token=need, max_upload=max_upload_mb * 1024 * 1024)
    app = build(config)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if need:
        if token is None:
            click.echo(f"tracedoc: token (generated): {need}", err=True)
        click.echo(f"tracedoc: serving on {url}?token={need}", err=True)
    else:
        click.echo(f"tracedoc: serving on {url}", err=True)
    if not security.is_loopback(host):
        click.echo("tracedoc: note: the connection is plain HTTP; use it on a trusted network or behind TLS",
                   err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False)


if __name__ == "__main__":  # `python -m tracedoc.cli.serve_cmd` until serve is registered in main.py
    serve()
