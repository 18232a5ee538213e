"""Clients for external systems segflow imports from (SPEC §6). No segflow imports here."""
