"""Presence (CONTRACT §9): which phones are up, found with SIP OPTIONS probes."""
