"""Evidence exports: recipient profiles, approved export requests and signed BagIt bags."""
