"""Local AWS runtime control (LocalStack with our plugins)."""
