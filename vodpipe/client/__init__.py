"""The vodpipe API client: configuration, HTTP calls, the resumable multipart upload engine, job following."""
