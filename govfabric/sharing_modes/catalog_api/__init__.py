"""Open data: a CKAN-compatible read API and a DCAT-AP 3 catalogue of the open catalog assets."""
