"""incident: run a marketplace pricing incident from scope to report."""

__version__ = "0.1.0"
