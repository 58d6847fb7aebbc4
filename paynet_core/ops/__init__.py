"""What a person does, for pages and the CLI alike: issue, look up, sync, upload.

:mod:`.issue` (one invoice, one status change), :mod:`.lookup` (refresh an invoice, look a
payment up), :mod:`.sync` (refresh the cache from both providers), :mod:`.uploads` (read and
plan a bulk upload, retry failed items, which jobs may resume).
"""
