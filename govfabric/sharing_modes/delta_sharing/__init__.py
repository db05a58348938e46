"""Delta Sharing (the open protocol): recipients with bearer tokens, shares of virtual tables and
views, Parquet files of each recipient's rows served through signed expiring URLs."""
