"""The transcode workflow as the API drives it: a port, and its Step Functions adapter."""
