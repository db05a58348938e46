"""The data-asset catalog (GB/T 40756 §8.4.1): sources, assets, harvest, search, usage."""
