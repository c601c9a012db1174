"""flopbench's version: one string, importable from every floor (flopbench/__init__.py re-exports it and sits above
the packages whose API it lends, so nothing below may import it)."""

__version__ = "0.2.0"
