"""Settings every tier shares."""

import os

# The CDK's Node runtime warns on every import under Node 20; synth is otherwise unaffected.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")
