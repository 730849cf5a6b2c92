"""Pure media domain: probing, validation, the rendition ladder and ffmpeg command lines."""
