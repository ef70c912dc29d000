"""``radsynth study serve``: run the reader-study web app with uvicorn.

The access log is off because invitation and admin tokens travel in URL paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from radsynth.config import arg
from radsynth.errors import RadsynthError
from radsynth.stage import StageResult
from radsynth.study.db import resolve_url


@dataclass(frozen=True)
class ServeConfig:
    """Serve a reader study to its raters and admin (stop with Ctrl-C)."""

    study: Path = arg(help="study folder made by 'radsynth study create'", positional=True)
    host: str = arg("127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    port: int = arg(8000, help="TCP port")
    db: str | None = arg(None, help="database URL; default the one the study was created with")


def serve(cfg: ServeConfig) -> StageResult:
    """Open the study (upgrading an older schema version), then serve until interrupted."""
    import uvicorn

    from radsynth.study.app import create_app

    if not 0 < cfg.port < 65536:
        raise RadsynthError(f"--port must be 1-65535, got {cfg.port}")
    app = create_app(resolve_url(cfg.study, cfg.db))
    print(f"reader study at http://{cfg.host}:{cfg.port}/ (links in {cfg.study / 'links.csv'})")
    uvicorn.run(app, host=cfg.host, port=cfg.port, access_log=False, log_level="warning")
    app.state.engine.dispose()
    return StageResult(cfg.study, "server stopped")
