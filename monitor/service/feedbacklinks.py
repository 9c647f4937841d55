"""Where the service's feedback links come from: the key they are signed with and the address
they start with (issue 35; the links themselves are `monitor.alerts.feedbacklinks`).

The key is the feedback pages' own (`monitor.service.feedback`): `http.feedback_key` when
monitor.yaml gives one, else 32 random bytes kept in `<state_dir>/feedback.key` (made once,
mode 0600), so links sent before a restart still read back after it. The address is
`http.public_url`, else the listener's own.
"""

from __future__ import annotations

import structlog

from monitor.alerts.verdicts import FeedbackSigner
from monitor.kernel.errors import ConfigError
from monitor.service.config import Config
from monitor.service.feedback import KEY_FILE, feedback_signer
from monitor.status.web import status_page_line

log = structlog.get_logger("monitor.feedback")


def make_feedback(config: Config) -> tuple[FeedbackSigner, str] | None:
    """The signer (`monitor.service.feedback.feedback_signer`: the key the feedback pages read
    tokens with) and the base URL of the links every alert carries; None when the key can be
    neither read nor made (logged: the alerts then go out without links)."""
    base = (
        config.public_url
        or status_page_line(config.listen_host, config.listen_port, config.http_token)["url"]
    )
    try:
        return feedback_signer(config), base
    except (OSError, ConfigError) as exc:
        log.error(  # noqa: TRY400 - the reason is the news, not its traceback
            "feedback key unusable: alerts go out without feedback links",
            path=str(config.state_dir / KEY_FILE),
            error=str(exc),
        )
        return None
