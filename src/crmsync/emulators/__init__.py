"""Emulators of the CRM web APIs, speaking the real wire protocols."""
