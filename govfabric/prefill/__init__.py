"""Form and material prefill services on the shared data (§9.4.5, 9.4.6, 9.5.2)."""
