"""Node types of Subscription Experience flows, one module each, behind one registry (SPEC §4)."""
