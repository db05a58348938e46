"""The data service interface (§8.4.2.7): a consumer orders a range of a virtual table, the owner
approves it (apply → approve → a scoped grant), changes are pulled by cursor or pushed to a signed
webhook."""
