"""Storage and decoding: filesystems, Parquet shards, Arrow schemas, video probe and frames."""
