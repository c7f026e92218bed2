"""Progress display: a reducer over protocol messages and its renderers."""
