"""Emulator of the Salesforce REST API (``crmsync emulate salesforce``)."""
