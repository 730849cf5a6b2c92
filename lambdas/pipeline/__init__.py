"""The pipeline's steps as pure services over the job repository and the media store (no SDK here)."""
