"""OData v4 wire helpers shared by the Dataverse emulator and connector."""
