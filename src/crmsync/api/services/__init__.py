"""What the API does, apart from HTTP: the routes only translate to and from these services."""
