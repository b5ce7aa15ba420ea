"""The Dataverse connector: MSAL authentication, a raw Web API client, reader and writer."""
