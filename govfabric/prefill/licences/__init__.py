"""The e-licence library (§9.5.2): licences with their GB/T 36903 metadata essentials, GB/T 36904
identifiers, the licence files with their digests, imports, verification and revocation."""
