"""Runs on the application's threads, inside each span or log call: every line here is paid by every request.

The rule for all of it: O(1) work, no I/O, no serialization, no lock held across anything slow, and never an
exception into the application. ``processors`` appends each ended span or record to the pipeline's queue,
``span_guards`` keeps the SDK's span methods from raising, ``sampling`` records unsampled local roots,
``exception_context`` / ``exception_origin`` give a recorded exception its application frames and its request,
``log_records`` builds the logging bridge's records, ``engine`` is ``tl_otel.engine_run``. Two more parts run
here and live with their stage: the alerting processor's ``on_end`` (``tl_otel.alerting.processor``) and the
logging bridge's ``emit`` (``tl_otel.integrations.logging``)."""
