"""Alerting: a span processor that counts errors and slow spans, the seed's rules over sliding windows, the
pending → firing → resolved lifecycle, and Slack / email / JSON-log notifications (docs/alerting.md)."""
