"""Virtual tables and views, the SQL pipeline, engines and access policies."""
