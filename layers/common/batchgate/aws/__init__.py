"""Data access: the only place that talks to DynamoDB and S3. AWS errors become domain errors here."""
