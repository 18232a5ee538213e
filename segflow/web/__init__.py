"""The merchant's console and the HTTP API (SPEC §10): `segflow serve`."""
