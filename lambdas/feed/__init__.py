"""The job event feed: events derived from the jobs table's stream, put on the feed's EventBridge bus."""
