"""The state transitions a job's execution makes, counted from statemachines/transcode.asl.json's happy path.

Standard workflows bill every state entered, a retry included. Each Lambda task state is entered once per
invocation (retries are new invocations, all metered), so what ran is: the states that are not Lambda tasks,
plus every metered invocation. Distributed Map children are executions of their own: one per work item, entering
`EncodeChunk` once per attempt (counted with its invocations). tests/unit/cost/test_workflow.py walks the ASL.
"""

from __future__ import annotations

# The happy path's states that invoke no Lambda (the parent's Pass, Parallel, Map, putEvents and Succeed).
OTHER_STATES = ("Prepare", "Encode", "EncodeChunks", "ReleaseCompleted", "Completed")
# The Lambda task states, each entered once per invocation: the parent's, then each Map child's.
LAMBDA_STATES = {
    "RegisterJob": "RegisterJob",
    "ProbeSource": "ProbeSource",
    "MakeThumbnails": "MakeThumbnails",
    "Package": "PackageOutputs",
    "Publish": "PublishJob",
}
CHILD_LAMBDA_STATES = {"EncodeChunk": "EncodeChunk"}
# The metered functions (the names invocations are recorded under), in workflow order.
FUNCTIONS = ("RegisterJob", "ProbeSource", "EncodeChunk", "MakeThumbnails", "PackageOutputs", "PublishJob")


def state_transitions(invocations: int) -> int:
    """The transitions of one execution whose Lambda tasks were invoked `invocations` times in all."""
    return len(OTHER_STATES) + invocations
