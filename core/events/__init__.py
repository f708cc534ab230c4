"""Event bus (CloudEvents 1.0) and async work queue: local, sns/sqs, pubsub."""
