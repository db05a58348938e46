"""Service registry and routing (§8.4.2.3e): providers of a published service, policies, failover."""
