"""An HTTP API for a saved model (FastAPI + uvicorn): ``forgeml serve RUN_DIR``; see docs/serving.md.

``make_app(model)`` builds the application (for tests or to mount in your own server); ``serve(path)`` loads a
model directory and runs it.
"""
from forgeml.serve.app import make_app
from forgeml.serve.server import serve

__all__ = ["make_app", "serve"]
