"""Learning from experience: meta-features of datasets and a knowledge base of past runs."""
