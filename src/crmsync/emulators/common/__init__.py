"""Pieces shared by the emulators: TLS authority, clock, fault injection."""
