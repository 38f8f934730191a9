"""``forgeml serve``: load a model directory once, then answer HTTP requests with uvicorn (one worker)."""
from __future__ import annotations

import os
import sys

from forgeml.errors import ConfigError


def serve(path: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8000, max_body_mb: float = 10.0,
          key: str | bytes | None = None, limit_concurrency: int = 64, log_level: str = "warning") -> None:
    """Serve the model in ``path`` until interrupted. The model is loaded (and its files checked against the
    manifest's hashes and, with ``key`` or ``$FORGEML_MODEL_KEY``, its signature) before the port opens, so a
    bad directory is a ``ModelLoadError`` and never a server that fails on every request. More than
    ``limit_concurrency`` open requests get 503."""
    if not max_body_mb > 0:
        raise ConfigError(f"--max-body-mb must be a positive number of megabytes, got {max_body_mb}")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}")
    if limit_concurrency < 1:
        raise ConfigError(f"--limit-concurrency must be at least 1, got {limit_concurrency}")
    import uvicorn

    from forgeml.api.persist import load_model, read_manifest
    from forgeml.serve.app import make_app

    model = load_model(path, key=key)
    app = make_app(model, max_body_bytes=int(max_body_mb * 2**20), manifest=read_manifest(path))
    print(f"forgeml serve: {model.schema_.task} model of {model.schema_.target!r} from {path} on "
          f"http://{host}:{port} (docs at /docs; Ctrl-C stops)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, workers=1, log_level=log_level, access_log=False,
                limit_concurrency=limit_concurrency, timeout_graceful_shutdown=5)
