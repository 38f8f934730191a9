from forgeml.testing.check_model_family import check_model_family  # noqa: F401
