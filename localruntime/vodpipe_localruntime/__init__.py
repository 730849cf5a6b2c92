"""LocalStack plugins that run vodpipe's AWS emulation offline, on the host, without Docker."""
