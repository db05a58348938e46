"""Data quality (§8.4.4.3): rules as great-expectations suites run pushed down as SQL,
result history, rectification work orders and the four remedies."""
