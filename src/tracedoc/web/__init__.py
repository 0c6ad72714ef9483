"""The workbench in a browser: ``tracedoc serve`` (see :mod:`tracedoc.web.app`)."""
