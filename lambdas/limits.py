"""The limits of a deployment, as defaults: the CDK app's context, the functions' settings and the API read them."""

from __future__ import annotations

MAX_UPLOAD_BYTES = 5 * 2**30
# 90 min, not 2 h: PackageOutputs holds the 720p fallback twice (concatenated, then remuxed), and at
# 2 x 3500 kbit/s plus audio two hours of it are 12.0 GiB, more than Lambda's 10 GiB of /tmp.
MAX_DURATION_S = 90 * 60
PRESIGN_EXPIRY_S = 900
# The longest clip (POST /jobs/{id}/clips, an upload's `clip`): ten minutes, a highlight rather than a copy.
MAX_CLIP_SECONDS = 600
