from forgeml.testing.check_ensembler import check_ensembler  # noqa: F401
from forgeml.testing.check_model_family import check_model_family  # noqa: F401
