"""A pack that fails to import: the server must still start and report it."""

import this_module_does_not_exist  # noqa: F401

NODE_CLASS_MAPPINGS = {}
