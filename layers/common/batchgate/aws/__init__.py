"""The adapters: every call to AWS goes through this package (DynamoDB in ``store``, S3 in
``objects`` and ``s3fs``, Step Functions in ``executions``, EventBridge in ``notifications``).
Methods are named for what the caller needs; AWS errors become domain errors here.
"""
