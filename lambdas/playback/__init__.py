"""Private playback: signed, short-lived URLs for private jobs' outputs, and the manifests served signed."""
