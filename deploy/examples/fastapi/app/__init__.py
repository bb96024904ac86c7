"""The example FastAPI backend behind the gateway (see README.md)."""
