"""CDK stacks: where vodpipe runs."""
