"""What counts as sensitive by default: key names, query parameter names, SQL literals and secret shapes.

Key names follow Sentry's DEFAULT_DENYLIST and Scout's FILTER_PARAMETERS (both lowercase exact-key
matches); the query list adds the OpenTelemetry semantic conventions' keys (``sig``, ``X-Amz-*``...).
Names too generic to be an attribute name (Scout's ``key``, ``access``, ``private``) only count in a
query string or a ``key=value`` text, where they are what Scout and Rails filter."""

from __future__ import annotations

# Attribute / log-field / header names, as words (tl_otel.redaction.key_names: case humps, separators,
# brackets and glued prefixes are one normalisation). A name matches when the whole name, its last dotted
# segment, or that segment's last one or two words are listed: so ``db_password``, ``app.user.password``,
# ``stripe_secret_key``, ``accessToken``, ``PGPASSWORD``, ``aws_secret_access_key`` and
# ``http.request.header.x_api_key`` match; ``tokens_used`` and ``session.id`` do not.
KEY_NAMES: frozenset[str] = frozenset({
    "password", "passwd", "pwd", "mysql_pwd", "secret", "secret_key", "client_secret", "token", "auth_token",
    "access_token", "refresh_token", "id_token", "api_key", "apikey", "x_api_key", "auth", "authorization",
    "proxy_authorization", "credentials", "credential", "session", "sessionid", "session_id", "cookie",
    "set_cookie", "csrf", "csrftoken", "csrf_token", "x_csrftoken", "xsrf_token", "x_xsrf_token", "_xsrf",
    "private_key", "privatekey", "ssn", "card", "card_number", "cardnumber", "cvv", "cvc", "otp", "salt",
    "stripetoken", "certificate", "crypt", "phpsessid", "connect.sid", "signature", "x_amz_signature",
    "x_amz_credential", "x_amz_security_token", "awsaccesskeyid", "x_goog_signature", "sig",
    "pass", "passphrase", "access_key",
})

# Words that end a sensitive name even glued to what precedes them (``PGPASSWORD``, ``jsessionid``,
# ``accesstoken`` once lowercased): none of them ends an ordinary word. Other names need a separator or a
# case hump before them (``discard`` is not ``card``, ``encrypt`` is not ``crypt``).
GLUED_SUFFIXES: tuple[str, ...] = ("password", "passwd", "passphrase", "secret", "token", "sessionid")

# Query-string and ``key=value`` text keys (matched case-insensitively; semconv's list is case-sensitive,
# ours is a superset). A key may carry a prefix (``db_password=``, ``client-secret:``)...
QUERY_KEYS: frozenset[str] = KEY_NAMES | frozenset({
    "card[number]", "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
})
# ...except these, too generic to match inside a longer name (``routing_key``, ``cache_key``, ``has_access``):
# they count only as the whole key (``?key=AIza...``, as Scout and Rails filter them).
WHOLE_QUERY_KEYS: frozenset[str] = frozenset({"key", "access", "private", "protected", "sig", "auth"})

# Attributes whose value is a database query: literals become '?', parameterized text stays as it is.
SQL_KEYS: frozenset[str] = frozenset({"db.statement", "db.query.text"})

# Literal pieces one of which every shape below contains: a string holding none of them skips the shape
# regex (a few ``in`` tests instead of a regex search: the shapes are searched in every string).
SHAPE_ANCHORS: tuple[str, ...] = ("ph", "hooks.slack", "/services/", "earer", "EARER", "Basic", "eyJ", "AKIA", "ASIA",
                                  "gh", "xox", "sk_")

# Shapes that are secrets wherever they appear (regex source, replacement).
SECRET_SHAPES: tuple[tuple[str, str], ...] = (
    (r"\bph[cx]_[A-Za-z0-9]{16,}", "REDACTED"),  # PostHog project / personal API keys
    (r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]+", "hooks.slack.com/services/REDACTED"),
    (r"/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{8,}", "/services/REDACTED"),  # a webhook path alone
    (r"(?i:\bbearer)\s+[A-Za-z0-9._~+/-]{8,}=*", "Bearer REDACTED"),
    (r"\bBasic\s+[A-Za-z0-9+/]{12,}={0,2}", "Basic REDACTED"),
    (r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*", "REDACTED"),  # JWT
    (r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", "REDACTED"),  # AWS access key id
    (r"\bgh[pousr]_[A-Za-z0-9]{30,}", "REDACTED"),  # GitHub tokens
    (r"\bxox[abprs]-[A-Za-z0-9-]{10,}", "REDACTED"),  # Slack tokens
    (r"\bsk_(?:live|test)_[A-Za-z0-9]{16,}", "REDACTED"),  # Stripe secret keys
)
