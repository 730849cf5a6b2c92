"""Captions: caption files checked, cleaned and converted to WebVTT, and the job's subtitle tracks."""
