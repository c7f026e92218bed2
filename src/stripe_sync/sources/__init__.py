"""Sources that read upstream systems."""
