"""Storage: the media store (sources, outputs) and the multipart upload store, ports with S3 adapters."""
