"""Developer tools run through `make`: template translation for checkov, event schema generation."""
