"""One module per Lambda function: parse the event, call the domain once, return its result."""
