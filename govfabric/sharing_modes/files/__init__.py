"""Dataset files (GB/T 40756-2021 §8.4.2.5): a steward offers a table or view as downloadable files;
each consumer gets the files of what THEIR grant shows (masks, row filters), streamed, digested,
served through signed expiring links."""
