"""Alerting: notification channels so far (Slack webhook, email over SMTP). The alerting span processor,
rules and shared alert state come with the alerting issue."""
