"""Security (§8.4.4.4, GB/T 35273): PII detection, sensitivity, default masking, consent."""
