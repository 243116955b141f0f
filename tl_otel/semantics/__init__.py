"""What a span means, read the same way on every thread: is it a request (``request_kinds``), its names without
query strings (``span_names``), its attributes read fast (``span_attributes``), and application values made
JSON-safe without raising (``safe_values``). Pure functions and small tables: no I/O, no threads."""
