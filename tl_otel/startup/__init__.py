"""Runs once, when a process starts: settings → exporters → providers → pipelines → process hooks.

``configure`` builds everything (the launcher's ``distro`` and ``configurator`` entry points lead there too),
``runtime`` holds what it built and flushes and shuts it down within one deadline, ``process_roles`` decides
which processes are left untouched, and the ``instrumentation_*`` modules decide which instrumentations apply
at the application's library versions. Nothing here runs per request."""
