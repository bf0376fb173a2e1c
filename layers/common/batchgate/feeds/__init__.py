"""Export feeds (seed 002): a downstream copy of a dataset kept in sync, in full or by the changes
the table's history records since the feed's watermark, to S3 or a webhook."""
