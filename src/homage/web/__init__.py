"""The local web UI: browse the library, scan a file, watch progress, read the report."""

from homage.web.app import HomageServer, make_server, serve

__all__ = ["HomageServer", "make_server", "serve"]
