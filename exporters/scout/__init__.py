"""Scout APM: OTel traces become Scout requests over the core-agent protocol, named and tagged as Scout's
own Python agent names and tags them."""
