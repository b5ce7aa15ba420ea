"""Constants shared by the Dataverse Web API unit tests (imported by name, unlike conftest)."""

BASE = "http://dataverse.test/api/data/v9.2"
