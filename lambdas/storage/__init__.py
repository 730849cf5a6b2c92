"""The media store: source and output objects, behind a small port with an S3 adapter and a fake."""
