"""The job: what users see of a transcode, its legal life cycle, and where it is stored."""
