"""Pop2Piano Bridge: turn an audio clip into an aligned piano arrangement.

The engine (``bridge.engine``) is usable on its own; the CLI and the daemon are thin
frontends over :class:`bridge.engine.Converter`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
