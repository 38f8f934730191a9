"""NAS search spaces, one file each; ``forgeml.nas.NAS_SPACES`` lists them."""
