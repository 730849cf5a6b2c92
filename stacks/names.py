"""The CDK app's stack ids, which are also the CloudFormation stack names of every deployment."""

STORAGE_STACK = "VodpipeStorage"
PIPELINE_STACK = "VodpipePipeline"
STACKS = (STORAGE_STACK, PIPELINE_STACK)  # in deployment order: the pipeline reads the storage stack's outputs
