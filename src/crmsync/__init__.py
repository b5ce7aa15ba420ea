"""crmsync: keep a CRM and a marketing-campaign database in sync."""

__version__ = "0.1.0"
