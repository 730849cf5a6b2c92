"""vodpipe's Lambda code: one package, one code asset; the handler path picks the function."""
