"""Getting a batch's files into S3, by kind: one request (:mod:`.single_put`), AEP chunks
(:mod:`.chunks`: INITIALIZE / PATCH / COMPLETE) and presigned URLs (:mod:`.presigned`: single
PUT or S3 multipart). :class:`.uploads.FileUploads` is what the routes call.

The order of writes is the contract with the validators: the file item is written first (only if
new), then the batch is re-read to be sure it is still ``loading``, and only then do the bytes
land under ``uploads/{format}/…``. Once the object exists the validators own the item and nothing
here writes it again. A COMPLETE that races an upload therefore either sees the file item (and
waits for its validation) or the upload sees the batch sealed and gives up with a 409.
"""
