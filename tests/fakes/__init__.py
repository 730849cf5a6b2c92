"""In-memory fakes of the project's ports, held to the same contract suites as the adapters."""
