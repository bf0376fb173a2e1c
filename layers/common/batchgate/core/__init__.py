"""The domain: models, the batch status model, the key layout, errors and the dataset schema.

Nothing here talks to AWS (no boto3) or to HTTP; every other part of batchgate depends on it.
"""
