"""Ingest: discover clips (folder, glob, manifest; local or s3://) and probe each one."""
