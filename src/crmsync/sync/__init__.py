"""The synchronization engine: its persistent state and the transformation of CRM records."""
