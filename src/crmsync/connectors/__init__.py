"""Connectors to the CRMs: authentication, raw clients, and the layer the engine uses."""
