"""clv figures."""
__all__: list[str] = []
