"""vodpipe: command-line client and local-runtime control."""
