"""`verify`: compare what a destination holds with what the API lists."""
