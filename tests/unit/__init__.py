"""Fast tests: the domain and its SCIM layer over in-memory adapters; no socket, database or Pyramid."""
