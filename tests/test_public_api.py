"""What `import tl_otel` offers, in a fresh interpreter, exactly as the docs show it."""

from __future__ import annotations


def test_alerts_and_health_work_after_import_any_number_of_times(python):
    ran = python("""
        import sys
        import tl_otel

        # Before configure(): nothing to report, and nothing heavy loaded to say so.
        assert tl_otel.alerts.active() == [] and tl_otel.alerts.active() == []
        assert tl_otel.alerts.history() == []
        assert tl_otel.health() == {} and tl_otel.health() == {}
        assert "tl_otel.alerting" not in sys.modules, sorted(m for m in sys.modules if m.startswith("tl_otel"))

        tl_otel.configure(service_name="svc", instrument=False)
        for _ in range(2):
            assert tl_otel.alerts.active() == [] and isinstance(tl_otel.alerts.history(), list)
            assert set(tl_otel.health()) == {"traces", "logs"}
        tl_otel.shutdown(5)  # shutdown reads the same report: the function must survive it too
        assert set(tl_otel.health()) == {"traces", "logs"}
        print("api ok")
    """)
    assert ran.returncode == 0, ran.stderr
    assert "api ok" in ran.stdout
