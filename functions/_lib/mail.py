"""Mail the app sends (sign-up codes, notices): queued in the `outbox` table.

The outbox is written by the mutation that decides to send, so a message exists
exactly when that mutation commits. A deployment delivers it with an action
that calls its mail provider (scheduled from `deliver`, or a cron draining the
outbox); in development, read it with `reactor run auth:mailbox '{"email": ...}'`.
"""

from __future__ import annotations

from reactor import MutationCtx
from reactor.auth.password import AuthMail

SUBJECTS = {"signUpCode": "Your sign-up code",
            "alreadyRegistered": "Someone tried to sign up with your email"}


def mail_text(mail: AuthMail) -> str:
    if mail.kind == "signUpCode":
        return f"Your code is {mail.code}. It expires in 15 minutes."
    return ("Someone (maybe you) tried to create an account with this address, which"
            " already has one. Sign in instead; if it was not you, nothing changed.")


async def deliver(ctx: MutationCtx, mail: AuthMail) -> None:
    """Queue `mail` for delivery, in the calling mutation's transaction."""
    await ctx.db.insert("outbox", {"to": mail.email, "kind": mail.kind,
                                   "subject": SUBJECTS[mail.kind], "text": mail_text(mail),
                                   **({"code": mail.code} if mail.code else {}),
                                   "createdAt": ctx.now()})
