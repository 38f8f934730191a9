"""NAS strategies, one file each; ``forgeml.nas.NAS_STRATEGIES`` lists them."""
