"""Information sync (§8.4.2.9): topics, replies and attachments between departments."""
