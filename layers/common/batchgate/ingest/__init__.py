"""From an S3 object-created event to a validated file: what the validator functions do.

``entry`` takes the SQS messages S3 sends, ``router`` decides what an object is (an API upload,
a bucket drop, nothing of ours), ``validate`` checks one file (or hands a large one to the
validate-large state machine), ``results`` records what validation found, and ``drop`` turns a
bucket drop into a one-file batch that completes by itself.
"""
