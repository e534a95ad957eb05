"""Every Redis key of the bot, and its table.

Keys all start with one prefix (default ``kcb``) so several bots can share one
Redis, and carry a hash tag so every multi-key script touches one cluster slot:
the customer's sender address, ``{+15551234567}``, for everything about one
customer; ``{upstream}`` for Talon.One's breaker and budgets, ``{jobs}`` for
the late-delivery queue, ``{outbound}`` for the outreach queue, ``{birthdays:<MM-DD>}``
for the birthday index, ``{scheduler}`` for the planner's lease, ``{stats}`` for the scan and results counts,
``{<name>:<id>}`` for other buckets.

========================================  =====================  ==========================================
key (``P`` = the prefix)                  type / value           lifetime
========================================  =====================  ==========================================
``P:{sender}:sid:<MessageSid>``           ``P`` while handled,   30 s while pending (a crashed handler's
                                          ``R<reply>`` after     claim expires so Twilio's retry works);
                                                                 24 h once replied (replays within a day);
                                                                 a STOP/START's: no expiry, as long as the
                                                                 opt-out record it changed (a replayed
                                                                 START is a replay, never a new START)
``P:{sender}:code:<slug>``                the issued code        ``code_ttl`` (default 400 days): the
                                                                 "same code again" promise outlives a
                                                                 campaign; Talon.One remains the source
``P:{sender}:reply:<slug>``               three lines: template  ``code_ttl``: a repeat texter's answer,
                                          version, code, the     served by begin.lua only while the
                                          reply rendered for it  version and the code still match
``P:{sender}:lock:<slug>``                single-flight token    the issuance budget (PX); released when
                                                                 the code is written or the call failed
``P:{sender}:optout``                     hash: state (out/in),  no expiry: the latest STOP or START, kept
                                          at_us (arrival), at,   with its arrival time so an older event
                                          word, sid              replayed from the journal never wins
``P:{sender}:noticed``                    ``1``                  ``code_ttl``: the number was sent the
                                                                 opt-in confirmation (Reply STOP, HELP)
``P:{sender}:rate`` / ``rate:<slug>``     GCRA theoretical       until the sender's bucket is full again
                                          arrival time (ms)      (program limit / a campaign's own limit)
``P:{sender}:notice``                     ``1``                  one limit period: one notice per window
``P:{sender}:sent:<slug>``                ``sending:<time>`` /   30 days: a late reply is sent at most once
                                          ``sent``               per sender and campaign (see delivery.py)
``P:{sender}:consent``                    list of consent        the program's ``consent_retention_days``
                                          events, oldest first:  after the last event; older events are
                                          ``at_ms|event|channel  dropped on each write, and at most
                                          |campaign|word``       ``CONSENT_MAX_EVENTS`` are kept
``P:{sender}:consent:served``             hash: campaign slug    the retention, from the opt-in source
                                          -> ms of its recorded  recorded last: after it a new serve is
                                          opt-in source          recorded as a fresh source
``P:{sender}:audience``                   hash: birthday (MM-DD),  no expiry: the customer's audience record
                                          timezone, consent_at,  (`bot audience import`, BDAY texts); kept
                                          consent_source,        until replaced; STOP deletes nothing but
                                          verified (1/0)         stops every send
``P:{sender}:ask:birthday``               the birthday campaign  15 minutes: "BDAY" alone asked for the
                                          slug                   date; the sender's next text is the answer
``P:{sender}:claim:<slug>:<occasion>``    ``queued``, ``issuing:  400 days: one outreach text per customer,
                                          <token>``, ``sending:   campaign and occasion (e.g. birthday:2026),
                                          <iso>:<token>``, then   whatever crashes happen (see sending.py);
                                          ``sent:<sid>`` /        the final state says what happened
                                          ``skipped:<why>`` /
                                          ``failed:<code>``
``P:{sender}:code:<slug>:<occasion>``     an outreach coupon     400 days: retried sends reuse it
``P:{birthdays:<MM-DD>}:members``         set of E.164 numbers   no expiry: the birthday index; planning a
                                                                 day reads only that day's sets (its own
                                                                 slot on a cluster)
``P:{outbound}:due`` / ``:payloads`` /    the outbound queue,    until the job completes (as ``{jobs}``)
``:attempts``                             as ``{jobs}``
``P:{outbound}:pace``                     GCRA TAT (ms)          the program's ``send_rate`` for every
                                                                 worker: the shared send clock
``P:{scheduler}:lease``                   the planner's token    30 s (PX), renewed: one planner at a time
``P:{scheduler}:planned:<slug>:<date>``   ``1``                  10 minutes: a local date planned recently
``P:{stats}:outreach:<slug>``             hash: planned, sent,   no expiry: the results page's outreach
                                          held, quiet_hours,     row of the campaign
                                          opted_out, no_consent,
                                          upstream, failed
``P:{meta}:generation``                   a random id            no expiry: missing means Redis lost its
                                                                 data; the journal is replayed, then it is
                                                                 set again (journal.py)
``P:{sender}:out:<MessageSid>``           hash: campaign,        ``RECEIPT_RETENTION_DAYS`` (default 30)
                                          occasion, status,      from the send: a text we sent, its last
                                          rank, error, at        status and ErrorCode (store/receipts.py);
                                                                 the recipient is the key's tag, never a
                                                                 log line's
``P:{sender}:undeliverable``              hash: code, at         180 days: Twilio's 21614 / 30006 (not a
                                                                 mobile, unreachable); nothing is sent to
                                                                 the number meanwhile (numbers get reassigned)
``P:{sender}:wa:window``                  ms of the number's     24 h after that message (PX): its existence
                                          last inbound WhatsApp  is WhatsApp's customer-service window
                                          message                (store/channels.py)
``P:{sender}:wa:refused``                 hash: code (63014 /    no expiry: no WhatsApp templates to the
                                          131050), at            number; 63014 goes with their next message
``P:{upstream}:budget:<slug>``            GCRA TAT (ms)          until the campaign's upstream budget refills
``P:{upstream}:breaker``                  hash: failures,        the failure window plus the cool-down;
                                          open_until (ms)        deleted by the first success
``P:{upstream}:probe``                    ``1``                  one half-open probe call at a time (PX)
``P:{jobs}:due``                          zset: job id -> due    until the job completes; a claimed job is
                                          time (ms)              pushed one lease ahead, so a dead
                                                                 worker's job comes due again
``P:{jobs}:payloads`` / ``:attempts``     hash: job id -> JSON   until the job completes
                                          / tries
``P:{broadcast:<id>}:record``             hash: campaign,        no expiry: a broadcast (`bot send`), its
                                          audience, origin, size, plan and its enqueue progress
                                          state, at, enqueued,   (store/broadcasts.py); kept for `bot sends`
                                          created, sender
``P:{broadcast:<id>}:recipients``         list of E.164 numbers  no expiry: the audience snapshot, in
                                                                 enqueue order (`enqueued` is its cursor)
``P:{broadcast:<id>}:counts``             hash: sent, opted_out, no expiry: the engine's final states of
                                          no_consent, ..., last  the broadcast's texts (its progress bar)
``P:{broadcasts}:index``                  zset: id -> created ms no expiry: every broadcast, for `bot sends`
``P:{competition:<slug>}:entrants``       hash: E.164 ->         no expiry: a competition's entries are its
                                          ``nth|number``         record (the draw, winner checks,
                                                                 complaints); delete them by hand once the
                                                                 rules' retention is over
``P:{competition:<slug>}:entries``        hash: entry number ->  no expiry (as above); numbers run from 1,
                                          ``e164|nth|channel|    decided with the window on Redis's clock
                                          poster|at_ms``         by enter.lua
``P:{competition:<slug>}:counts``         hash: ``<hour since    no expiry (as above): entries by channel
                                          epoch>|channel|        and poster per UTC hour, for the results
                                          poster`` -> count      page; no phone numbers
``P:{competition:<slug>}:draw``           hash: commitment       no expiry: the commit's JSON and secret
                                          (JSON), seed, document seed (kept here until the reveal
                                          (DRAW.json text)       publishes it), then DRAW.json as revealed
                                                                 and redrawn
``P:{competition:<slug>}:frozen``         the entry ids frozen   no expiry: the canonical list the commit
                                          by the commit, one     hashed, read back by the reveal
                                          per line
``P:{<name>:<id>}:rate``                  GCRA TAT (ms)          any other bucket (`Store.allow`), e.g. web
                                                                 hits per client IP hash
``P:{stats}:seen:<YYYY-MM-DD>:<c>|<p>``  HyperLogLog of         48 h: a visitor is HMAC(daily salt, IP, user
                                          visitor hashes, one    agent, slug); the salt derives from
                                          per day, campaign and  BOT_SECRET and the day, never stored
                                          poster (≤ 12 KB)
``P:{stats}:funnel:<YYYY-MM-DDTHH>``      hash: campaign|poster  ``FUNNEL_RETENTION_DAYS`` (90 days) after
                                          |event -> count, one   the hour's start (EXPIREAT): the one count
                                          hash per UTC hour      of scans and texts, read by the results
                                                                 page (results.py) and, summed over the
                                                                 retention, by `bot scans`; events are
                                                                 ``scan``, ``unique_scan`` and the texts'
                                                                 outcomes; no phone numbers, no hashes
``P:{form:<nonce>}:nonce``                the page's slug        `FORM_TTL_MS` (1 h): one served landing
                                                                 page's form, deleted by its one POST
``P:{form}:budget:<YYYY-MM-DDTHH>``       integer: form texts    2 h after the hour's start
                                          taken this UTC hour
``P:{form}:alert:<limit>``                ``1``                  the limit's window: one log alert each
``P:{login}:fail`` / ``fail:<client>``    GCRA TAT (ms)          until the bucket refills (≤ 10 min per
                                                                 client, ≤ ~2 h global)
``P:{stats}:outbound:<YYYY-MM-DDTHH>``    hash: campaign|        ``FUNNEL_RETENTION_DAYS`` after the hour's
                                          occasion|event ->      start: outbound texts sent, and their
                                          count, one per hour    receipts' final statuses and error codes
                                                                 (results.py's outbound section)
========================================  =====================  ==========================================

What an anonymous visitor can make the store keep, key by key (the issue-12 audit). Nothing grows
without bound: every key a stranger can create expires, is created at most once per event a rate
limit allowed, and has a fixed size.

========================================  ==========================================================
key                                       bound
========================================  ==========================================================
``{sender}:sid``                          one per inbound text (Twilio-signed: not anonymous), 24 h
``{sender}:code`` / ``reply`` / ``lock``  one per number and campaign; codes only for texts that
                                          passed the sender limit and Talon.One's budget
``{sender}:optout``                       one per number that texted STOP (signed webhooks only)
``{sender}:rate`` / ``notice`` / ``sent`` fixed size, expiring; one set per number
``{sender}:consent`` / ``consent:served`` at most ``CONSENT_MAX_EVENTS`` entries, one per campaign
``{upstream}:*``                          one per campaign plus two: fixed by the campaign file
``{jobs}:*``                              one job per sender and campaign, removed when done
``{web:<client>}:rate``                   the form's per-client bucket: ≤ 40 B, gone within the
                                          limit's period; one per client network (IPv6: per /64)
``{scan:<client>}:rate``                  the scan limit's bucket: the same, `scans.SCAN_LIMIT`
``{webto:<number>}:rate``                 only for numbers the policy allows, after the client limit
``{webcountry:<region>}:rate``            one per program country: fixed by the campaign file
``{stats}:seen:*``                        ≤ 12 KB per declared poster (or campaign) and day, 48 h,
                                          whatever the number of visitors (HyperLogLog)
``{stats}:funnel:*``                      one hash an hour; fields per declared campaign, poster and
                                          outcome only (no visitor data), 90 days
``{form:<nonce>}:nonce``                  one per served page with the form, after the client's scan
                                          limit; ≤ 100 B, 1 h (or its POST)
``{form}:budget`` / ``alert``             one integer an hour; one key per limit kind
``{login}:fail:<client>``                 one per client that sent a password, ≤ 40 B, ≤ 10 min
========================================  ==========================================================

(Before the funnel, scans were also counted in all-time hashes ``P:{stats}:scans``,
``:unique`` and ``:texts``; nothing writes or reads them now.)
"""

from __future__ import annotations

import datetime as dt

STATS_TAG = "stats"


class Keys:
    """The key of each thing the store keeps, under `prefix` (see the table above)."""

    prefix: str

    def _key(self, tag: str, *parts: str) -> str:
        # Braces inside a tag would break the hash tag; Twilio never sends them.
        if "{" in tag or "}" in tag:
            tag = tag.replace("{", "(").replace("}", ")")
        return f"{self.prefix}:{{{tag}}}:{':'.join(parts)}" if parts else f"{self.prefix}:{{{tag}}}"

    # -- one customer: {sender}

    def sid_key(self, sender: str, sid: str) -> str:
        return self._key(sender, "sid", sid)

    def code_key(self, sender: str, slug: str) -> str:
        return self._key(sender, "code", slug)

    def reply_key(self, sender: str, slug: str) -> str:
        return self._key(sender, "reply", slug)

    def lock_key(self, sender: str, slug: str) -> str:
        return self._key(sender, "lock", slug)

    def optout_key(self, sender: str) -> str:
        return self._key(sender, "optout")

    def sender_rate_key(self, sender: str, slug: str | None = None) -> str:
        return self._key(sender, "rate", slug) if slug else self._key(sender, "rate")

    def noticed_key(self, sender: str) -> str:
        return self._key(sender, "noticed")

    def notice_key(self, sender: str) -> str:
        return self._key(sender, "notice")

    def sent_key(self, sender: str, slug: str) -> str:
        return self._key(sender, "sent", slug)

    def audience_key(self, sender: str) -> str:
        return self._key(sender, "audience")

    def audience_pattern(self) -> str:
        """The SCAN pattern matching every customer's audience record."""
        return f"{self.prefix}:{{*}}:audience"

    def ask_key(self, sender: str) -> str:
        return self._key(sender, "ask", "birthday")

    def claim_key(self, sender: str, slug: str, occasion: str) -> str:
        return self._key(sender, "claim", slug, occasion)

    def consent_key(self, sender: str) -> str:
        return self._key(sender, "consent")

    def consent_served_key(self, sender: str) -> str:
        return self._key(sender, "consent", "served")

    def whatsapp_window_key(self, sender: str) -> str:
        return self._key(sender, "wa", "window")

    def whatsapp_refused_key(self, sender: str) -> str:
        return self._key(sender, "wa", "refused")

    def consent_pattern(self) -> str:
        """The SCAN pattern matching every number's consent log."""
        return f"{self.prefix}:{{*}}:consent"

    def sender_of_consent_key(self, key: str) -> str:
        return key[len(self.prefix) + 2: key.rindex("}")]

    # -- the birthday index: {birthdays:<MM-DD>}

    def birthday_index_key(self, month_day: str) -> str:
        return self._key(f"birthdays:{month_day}", "members")

    # -- the store's own: {meta}

    def generation_key(self) -> str:
        return self._key("meta", "generation")

    # -- receipts: under the recipient's tag

    def outbound_key(self, to: str, sid: str) -> str:
        return self._key(to, "out", sid)

    def undeliverable_key(self, to: str) -> str:
        return self._key(to, "undeliverable")

    # -- Talon.One: {upstream}

    def upstream_key(self, slug: str) -> str:
        return self._key("upstream", "budget", slug)

    def breaker_key(self) -> str:
        return self._key("upstream", "breaker")

    def probe_key(self) -> str:
        return self._key("upstream", "probe")
    # -- the late-delivery queue: {jobs}

    def job_keys(self, queue: str = "jobs") -> tuple[str, str, str]:
        """due, payloads, attempts of a queue: "jobs" (late replies) or "outbound" (outreach)."""
        return self._key(queue, "due"), self._key(queue, "payloads"), self._key(queue, "attempts")

    def pace_key(self) -> str:
        return self._key("outbound", "pace")

    # -- the birthday planner: {scheduler}

    def planner_lease_key(self) -> str:
        return self._key("scheduler", "lease")

    def planned_key(self, slug: str, day: str) -> str:
        return self._key("scheduler", "planned", slug, day)

    # -- broadcasts: {broadcast:<id>}, and their index {broadcasts}

    def broadcast_keys(self, broadcast_id: str) -> tuple[str, str, str]:
        """record, recipients (the audience snapshot), counts."""
        tag = f"broadcast:{broadcast_id}"
        return tuple(self._key(tag, part) for part in ("record", "recipients", "counts"))  # type: ignore[return-value]

    def broadcasts_key(self) -> str:
        return self._key("broadcasts", "index")

    # -- a competition's entries and draw: {competition:<slug>}

    def competition_keys(self, slug: str) -> tuple[str, str, str, str, str]:
        """entrants, entries, counts, draw, frozen."""
        tag = f"competition:{slug}"
        return tuple(self._key(tag, part) for part in ("entrants", "entries", "counts", "draw", "frozen"))  # type: ignore[return-value]

    # -- other buckets and the counts

    def bucket_key(self, name: str, ident: str) -> str:
        return self._key(f"{name}:{ident}", "rate")

    def stats_key(self, *parts: str) -> str:
        return self._key(STATS_TAG, *parts)

    def seen_key(self, day: str, campaign: str, poster: str) -> str:
        return self.stats_key("seen", day, f"{campaign}|{poster}")

    # -- the landing form and the marketer login

    def form_nonce_key(self, nonce: str) -> str:
        return self._key(f"form:{nonce}", "nonce")

    def form_budget_key(self, hour: dt.datetime) -> str:
        return self._key("form", "budget", hour.strftime("%Y-%m-%dT%H"))

    def form_alert_key(self, kind: str) -> str:
        return self._key("form", "alert", kind)

    def login_keys(self, client: str) -> tuple[str, str]:
        """This client's failure bucket and the global one, under one tag (one script, one slot)."""
        return self._key("login", "fail", client), self._key("login", "fail")

    def outreach_stats_key(self, slug: str) -> str:
        return self.stats_key("outreach", slug)

    def funnel_key(self, hour: dt.datetime) -> str:
        return self.stats_key("funnel", hour.strftime("%Y-%m-%dT%H"))

    def outbound_counts_key(self, hour: dt.datetime) -> str:
        return self.stats_key("outbound", hour.strftime("%Y-%m-%dT%H"))
